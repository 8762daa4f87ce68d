"""The lean RTP loop, checked against aiortc's own RTP parser and H.264 depacketizer: headers, marker
bits, sequence numbers, header extensions, the access units carried, sender-report counters, and a
NACKed packet retransmitted as RTX. The DTLS transport is a fake that records what would be encrypted."""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import socket
import struct
import time
from typing import Any

import pylibsrtp
import pytest
from aioice.ice import StunProtocol
from aiortc import RTCRtpSender
from aiortc.codecs.h264 import H264PayloadDescriptor
from aiortc.rtcrtpparameters import (
    RTCRtcpParameters,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from tests.support.packets import h264_packets, nal_units
from vsnative.media.fanout import FanOut
from vsnative.media.packets import EncodedPacket
from vsnative.webrtc import fastpath, packetizer
from vsnative.webrtc.track import RelayTrack

H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
RTX = RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=103, parameters={"apt": 102})
EXTENSIONS = [
    RTCRtpHeaderExtensionParameters(id=4, uri=fastpath.MID_URI),
    RTCRtpHeaderExtensionParameters(id=9, uri=fastpath.ABS_SEND_TIME_URI),
]


class FakeDtls:
    state = "connected"

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def _register_rtp_sender(self, sender: Any, parameters: Any) -> None:
        pass

    def _unregister_rtp_sender(self, sender: Any) -> None:
        pass

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)


@pytest.fixture
def packets() -> list[EncodedPacket]:
    return h264_packets(30, gop=25, size=(640, 360))


async def test_lean_loop_sends_what_aiortc_parses_back_to_the_same_access_units(
    packets: list[EncodedPacket],
) -> None:
    fanout = FanOut()
    track = RelayTrack(fanout.subscribe("viewer", 64), [])
    dtls = FakeDtls()
    sender = RTCRtpSender(track, dtls)  # type: ignore[arg-type]
    loop = fastpath.install(sender)
    assert loop is not None, "aiortc's internals are not what the lean loop expects"
    parameters = RTCRtpSendParameters(
        codecs=[H264, RTX], headerExtensions=EXTENSIONS, muxId="0", rtcp=RTCRtcpParameters(cname="t")
    )
    await sender.send(parameters)
    for packet in packets[:10]:
        fanout.publish(packet)
    for _ in range(100):
        if loop.packets and sum(1 for d in dtls.sent if d[1] & 0x80) >= 10:
            break
        await asyncio.sleep(0.01)

    extensions = HeaderExtensionsMap()
    extensions.configure(parameters)
    rtp = [RtpPacket.parse(d, extensions) for d in dtls.sent if 96 <= d[1] & 0x7F <= 127]
    assert {p.payload_type for p in rtp} == {102}
    assert {p.ssrc for p in rtp} == {sender._ssrc}
    assert all(p.extensions.mid == "0" and p.extensions.abs_send_time is not None for p in rtp)
    steps = [(b.sequence_number - a.sequence_number) % 65536 for a, b in itertools.pairwise(rtp)]
    assert steps == [1] * (len(rtp) - 1)
    # one access unit per timestamp, the marker on its last packet; the NAL units are the camera's
    # (but for access unit delimiters, which RTP leaves out)
    frames: dict[int, list[RtpPacket]] = {}
    for p in rtp:
        frames.setdefault(p.timestamp, []).append(p)
    assert len(frames) == 10
    for packet, (_, group) in zip(packets, sorted(frames.items()), strict=False):
        assert [p.marker for p in group] == [0] * (len(group) - 1) + [1]
        unit = b"".join(H264PayloadDescriptor.parse(p.payload)[1] for p in group)
        assert nal_units(unit) == [u for u in nal_units(packet.data) if u[0] & 0x1F != 9]
    state = vars(sender)
    assert state["_RTCRtpSender__packet_count"] == len(rtp)  # what aiortc's sender reports will say
    assert state["_RTCRtpSender__rtp_timestamp"] == rtp[-1].timestamp

    # a NACKed packet goes again as RTX: its own SSRC and sequence, the original sequence number first
    lost = rtp[3]
    await sender._retransmit(lost.sequence_number)
    again = RtpPacket.parse(dtls.sent[-1], extensions)
    assert (again.payload_type, again.ssrc, again.timestamp) == (103, sender._rtx_ssrc, lost.timestamp)
    assert struct.unpack("!H", again.payload[:2])[0] == lost.sequence_number
    assert again.payload[2:] == lost.payload
    count = len(dtls.sent)
    await sender._retransmit((lost.sequence_number - 500) % 65536)  # no longer in the history: ignored
    assert len(dtls.sent) == count

    fanout.close()
    await asyncio.wait_for(sender.stop(), 5)  # aiortc waits for the loop's start and exit events


async def test_gso_sender_delivers_each_datagram_once_in_order_with_fewer_sends() -> None:
    """A frame's SRTP packets through one UDP socket: runs of equal size (a shorter one may end a run)
    go as one send each; the receiver gets exactly the same datagrams, in order."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: StunProtocol(None),  # type: ignore[arg-type]
        local_addr=("127.0.0.1", 0),
    )
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    sizes = [1200] * 5 + [1199] * 4 + [300, 50, 50]
    datagrams = [bytes([i]) * size for i, size in enumerate(sizes)]
    gso = fastpath.GsoSender(protocol)
    try:
        sent = gso.send(memoryview(b"".join(datagrams)), sizes, receiver.getsockname())
        got = [receiver.recv(2048) for _ in range(sent)]
    finally:
        gso.close()
        transport.close()
        receiver.close()
    assert gso.enabled, "this kernel refused UDP GSO on loopback"
    assert sent == len(datagrams)
    assert got == datagrams
    assert gso.syscalls == 3  # 5x1200 + 1199 | 3x1199 + 300 | 50 + 50


async def test_gso_sender_gives_way_when_the_kernel_refuses() -> None:
    """No GSO (old kernel, a device without it): nothing is sent here and the caller sends every packet
    through the protocol; GSO stays off for that loop."""

    class Refusing:
        def sendmsg(self, *_: Any) -> int:
            raise OSError(errno.EIO, "Input/output error")

        def sendto(self, *_: Any) -> int:
            raise AssertionError("a single datagram is not reached before the first run")

        def close(self) -> None:
            pass

    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: StunProtocol(None),  # type: ignore[arg-type]
        local_addr=("127.0.0.1", 0),
    )
    gso = fastpath.GsoSender(protocol)
    gso.socket.close()
    gso.socket = Refusing()  # type: ignore[assignment]
    try:
        assert gso.send(memoryview(b"x" * 300), [100] * 3, ("127.0.0.1", 9)) == 0
        assert not gso.enabled
        assert gso.send(memoryview(b"x" * 300), [100] * 3, ("127.0.0.1", 9)) == 0
    finally:
        transport.close()


async def test_header_extensions_carry_mid_and_abs_send_time_only_when_negotiated() -> None:
    sender = RTCRtpSender(RelayTrack(FanOut().subscribe("viewer", 8), []), FakeDtls())  # type: ignore[arg-type]
    loop = fastpath.FastRtpLoop(sender)
    rtcp = RTCRtcpParameters(cname="t")
    for negotiated in (EXTENSIONS, EXTENSIONS[:1]):
        loop.parameters = RTCRtpSendParameters(
            codecs=[H264], headerExtensions=negotiated, muxId="0", rtcp=rtcp
        )
        extensions = HeaderExtensionsMap()
        extensions.configure(loop.parameters)
        parsed = []
        for send_time in (5 << 32, 7 << 32):  # NTP 32.32 seconds; abs-send-time keeps 6.18 bits
            block = loop.extensions(send_time)
            packet = fastpath.HEADER.pack(0x90, 102, 1, 0, 1) + block + b"\x65"
            parsed.append(RtpPacket.parse(packet, extensions).extensions)
        assert [p.mid for p in parsed] == ["0", "0"]
        if len(negotiated) == 2:
            assert [p.abs_send_time for p in parsed] == [5 << 18, 7 << 18]
        else:
            assert [p.abs_send_time for p in parsed] == [None, None]


async def test_viewers_of_one_camera_share_each_frames_packetization(packets: list[EncodedPacket]) -> None:
    """Two viewers get the same RTP payloads, and each access unit is packetized once for both (a keyframe
    whose parameter sets were added per viewer at most twice)."""
    fanout = FanOut()
    viewers = []
    for _ in range(2):
        dtls = FakeDtls()
        sender = RTCRtpSender(RelayTrack(fanout.subscribe("viewer", 64), []), dtls)  # type: ignore[arg-type]
        assert fastpath.install(sender) is not None
        await sender.send(RTCRtpSendParameters(codecs=[H264], muxId="0", rtcp=RTCRtcpParameters(cname="t")))
        viewers.append((sender, dtls))
    made = packetizer.PACKETIZER.made
    for packet in packets[:10]:
        fanout.publish(packet)
    for _ in range(100):
        if all(sum(1 for d in dtls.sent if d[1] & 0x80) >= 10 for _, dtls in viewers):
            break
        await asyncio.sleep(0.01)
    payloads = [[RtpPacket.parse(d).payload for d in dtls.sent if d[1] & 0x7F == 102] for _, dtls in viewers]
    assert payloads[0] == payloads[1]
    assert len(payloads[0]) > 10
    keyframes = sum(1 for p in packets[:10] if p.keyframe)
    assert 10 <= packetizer.PACKETIZER.made - made <= 10 + keyframes
    fanout.close()
    for sender, _ in viewers:
        await asyncio.wait_for(sender.stop(), 5)


async def test_a_keyframe_larger_than_the_srtp_buffer_arrives_whole_paced_and_decrypts() -> None:
    """A 600 KB keyframe (a detailed 1080p camera) through the path a viewer's frames take: one SRTP
    session, the frame protected into one buffer, sent over the ICE pair's UDP socket with GSO and paced.
    Every datagram arrives once, in order, and decrypts to the packet sent (regression: the buffer was
    read before protecting grew it, and everything past 64 KB went out empty)."""
    key = os.urandom(30)
    profile = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    outbound = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
    )
    inbound = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile)
    )
    datagrams = [fastpath.HEADER.pack(0x80, 102, i, 90_000, 0x1234) + os.urandom(1300) for i in range(460)]

    class Receiver(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.got: list[bytes] = []

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.got.append(data)

    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: StunProtocol(None),  # type: ignore[arg-type]
        local_addr=("127.0.0.1", 0),
    )
    rx_transport, receiver = await loop.create_datagram_endpoint(Receiver, local_addr=("127.0.0.1", 0))
    sender = RTCRtpSender(RelayTrack(FanOut().subscribe("viewer", 8), []), FakeDtls())  # type: ignore[arg-type]
    lean = fastpath.FastRtpLoop(sender)
    try:
        buffer, sizes = lean.protect(outbound, datagrams)
        started = time.monotonic()
        await lean.send_frame(buffer, sizes, protocol, rx_transport.get_extra_info("sockname"))
        took = time.monotonic() - started
        for _ in range(100):
            if len(receiver.got) >= len(datagrams):
                break
            await asyncio.sleep(0.01)
    finally:
        if lean.gso is not None:
            lean.gso.close()
        transport.close()
        rx_transport.close()
    assert [inbound.unprotect(d) for d in receiver.got] == datagrams
    frame = sum(sizes)
    assert lean.pacer.waits > 0
    assert took >= 0.9 * (frame - fastpath.BURST_BYTES) / fastpath.PACE_BYTES_PER_SECOND
