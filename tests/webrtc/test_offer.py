"""What the relay takes from a viewer's offer: bandwidth feedback (abs-send-time, REMB) is left out of the
answer, everything else a viewer needs stays (checked with aiortc on both sides)."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from vsnative.streamers.webrtc import prefer_h264, without_bandwidth_feedback


async def test_answer_negotiates_no_bandwidth_feedback_but_keeps_h264_mid_nack_and_pli() -> None:
    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    relay = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        viewer.addTransceiver("video", direction="recvonly")
        await viewer.setLocalDescription(await viewer.createOffer())
        offer = viewer.localDescription.sdp
        assert "abs-send-time" in offer
        assert "goog-remb" in offer

        filtered = without_bandwidth_feedback(offer)
        assert "abs-send-time" not in filtered
        assert "goog-remb" not in filtered
        assert [
            line for line in offer.split("\n") if "abs-send-time" not in line and "goog-remb" not in line
        ] == (filtered.split("\n"))

        transceiver = relay.addTransceiver("video", direction="sendonly")
        prefer_h264(transceiver)
        await relay.setRemoteDescription(RTCSessionDescription(filtered, "offer"))
        await relay.setLocalDescription(await relay.createAnswer())
        answer = relay.localDescription.sdp
        assert "H264/90000" in answer
        assert "urn:ietf:params:rtp-hdrext:sdes:mid" in answer
        assert " nack pli" in answer
        assert " nack\r\n" in answer
        assert "abs-send-time" not in answer
        assert "goog-remb" not in answer
        await viewer.setRemoteDescription(relay.localDescription)  # the viewer accepts it
    finally:
        await viewer.close()
        await relay.close()
