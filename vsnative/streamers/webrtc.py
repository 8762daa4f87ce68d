"""`webrtc` streamer: live view of one camera for up to `maxViewers` WebRTC viewers, without re-encoding.

It keeps the camera's current GOP (fed in the framer thread, an append per packet) so a new viewer shows
a picture at once, and owns the viewers' peer connections: each viewer has its own fan-out
subscription and track. Peers are closed on DELETE, when the viewer goes away (ICE failure or no RTCP
receiver report for `viewerTimeoutSeconds`), when the camera's agent stops, and on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Literal

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from pydantic import BaseModel, ConfigDict, Field

from vsnative.media.audio import RELAYED, names
from vsnative.media.fanout import FanOut
from vsnative.media.gop import GopCache
from vsnative.media.packets import EncodedPacket, MediaTrack
from vsnative.streamers.base import STREAMERS, StreamerContext, ThreadedStreamer
from vsnative.webrtc import fastpath
from vsnative.webrtc.audio_track import AudioRelayTrack
from vsnative.webrtc.ice import IceSettings
from vsnative.webrtc.track import RelayTrack, SentHook

log = logging.getLogger(__name__)
WATCH_SECONDS = 1.0
AUDIO_QUEUE = 64  # audio packets a viewer may fall behind (8 s of 128 ms G.711 packets)
CLOSE_SECONDS = 5.0


class WebRtcConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["webrtc"] = "webrtc"
    maxViewers: int = Field(10, ge=0, description="viewers of this camera at once (0: live view off)")
    gopCache: bool = Field(True, description="start new viewers with the current GOP (instant picture)")
    queuePackets: int = Field(120, ge=8, description="a viewer further behind skips to the next keyframe")
    viewerTimeoutSeconds: float = Field(15.0, gt=0, description="no receiver report for this long: gone")
    leanRtp: bool = Field(True, description="send RTP with vsnative's lean loop (false: aiortc's own loop)")


class ViewerError(Exception):
    """A viewer cannot be added; `status` is the HTTP status that says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Viewer:
    id: str
    pc: RTCPeerConnection
    track: RelayTrack
    audio: AudioRelayTrack | None = None
    created: float = field(default_factory=time.time)
    watcher: asyncio.Task[None] | None = None

    def snapshot(self) -> dict[str, object]:
        audio = self.audio
        return {
            "id": self.id,
            "state": self.pc.connectionState,
            "since": int(self.created),
            "packetsSent": self.track.sent,
            "replayed": self.track.replayed,
            "dropped": self.track.dropped,
            "audio": None if audio is None else {"codec": audio.codec, "packetsSent": audio.sent},
        }


@STREAMERS.register("webrtc")
class WebRtcStreamer(ThreadedStreamer):
    config_model = WebRtcConfig
    config: WebRtcConfig

    def __init__(self, config: WebRtcConfig, context: StreamerContext) -> None:
        super().__init__(config, context)
        self.gop = GopCache()
        self.viewers: dict[str, Viewer] = {}
        self.codec = ""  # of the camera's video, once a keyframe has been seen
        self.reorders = False  # the camera's video has B-frames (pictures out of display order)
        self._last_pts = 0  # of the last video picture (framer thread)
        self.audio: MediaTrack | None = None  # the camera's audio track, once a keyframe has been seen
        self.on_sent: SentHook | None = None  # for benchmarks: called per packet handed to aiortc
        self._closed = False
        self._joining = 0  # offers being answered: they hold a slot too
        self._tasks: set[asyncio.Task[bool]] = set()  # viewers being closed (the loop keeps weak refs)

    @property
    def ice(self) -> IceSettings:
        return self.context.ice or IceSettings()

    # --- fed by the framer thread ------------------------------------------------------------------
    def offer(self, packet: EncodedPacket) -> None:
        if self.config.gopCache:
            self.gop.add(packet)
        if not packet.is_video:
            return
        if packet.keyframe:
            self.codec = packet.info.video.codec
            self.audio = packet.info.audio
        elif packet.pts < self._last_pts and packet.pts != packet.dts and not self.reorders:
            # shown before a picture decoded earlier: a B-frame (a clock restart moves pts and dts alike)
            self.reorders = True
            if self.viewers:  # the camera changed its encoder while watched
                self.loop.call_soon_threadsafe(self._end_viewers, self.unavailable())
        self._last_pts = packet.pts

    def end_session(self) -> None:
        self.gop.clear()  # a viewer arriving while the camera reconnects must not replay a stale GOP
        self.reorders = False

    def unavailable(self) -> str | None:
        """Why a browser cannot show this camera's live view as it is, or None when it can."""
        camera = self.context.camera.id
        if self.codec and self.codec != "h264":
            return (
                f"camera {camera} sends {self.codec.upper()}; live view relays H.264 only (browsers' WebRTC "
                "cannot take it without re-encoding): give the camera an H.264 stream (often its substream)"
            )
        if self.reorders:
            return (
                f"camera {camera} sends H.264 with B-frames (pictures out of display order), which browsers' "
                "WebRTC cannot show without re-encoding: turn B-frames off in the camera's encoder settings "
                "(or use a substream without them)"
            )
        return None

    def status(self) -> dict[str, object]:
        """For the agent's API answer: whether live view can show the camera (and why not), and what
        becomes of its audio."""
        reason = self.unavailable()
        return {"available": reason is None, "reason": reason, "audio": self.audio_status()}

    def audio_status(self) -> dict[str, object] | None:
        audio = self.audio
        if audio is None:
            return None
        if audio.codec in RELAYED:
            return {"codec": audio.codec, "relayed": True, "reason": None}
        reason = f"{names(audio.codec)} is not a WebRTC codec: live view has no sound (the clips have it)"
        return {"codec": audio.codec, "relayed": False, "reason": reason}

    def _end_viewers(self, reason: str | None) -> None:
        if not self.viewers:
            return
        log.warning("%s; ending its %d live viewers", reason, len(self.viewers))
        for viewer in list(self.viewers.values()):
            self._forget(viewer)

    async def finish(self) -> None:
        self._closed = True
        await asyncio.gather(*(self.close_viewer(v) for v in list(self.viewers)))

    # --- viewers (on the event loop) ---------------------------------------------------------------
    async def add_viewer(self, offer_sdp: str) -> tuple[Viewer, str]:
        """Answer a viewer's SDP offer; raises ViewerError (4xx/503 with a reason)."""
        fanout = self.context.fanout
        if self._closed or fanout is None or fanout.closed:
            raise ViewerError(409, f"camera {self.context.camera.id} is stopping")
        check_offer(offer_sdp)  # a bad offer is a 400 whatever the load
        if len(self.viewers) + self._joining >= self.config.maxViewers:
            raise ViewerError(
                503, f"camera {self.context.camera.id} has its maximum of {self.config.maxViewers} viewers"
            )
        reason = self.unavailable()
        if reason is not None:
            raise ViewerError(409, reason)
        self._joining += 1
        try:
            return await self._answer(offer_sdp, fanout)
        finally:
            self._joining -= 1

    async def _answer(self, offer_sdp: str, fanout: FanOut) -> tuple[Viewer, str]:
        viewer_id = uuid.uuid4().hex
        # subscribe first, then copy the GOP: a packet is either in the copy or published to the
        # subscription (or both: the track skips those), never neither
        sub = fanout.subscribe(f"viewer-{viewer_id[:8]}", self.config.queuePackets)
        gop = self.gop.snapshot() if self.config.gopCache else []
        if gop:
            sub.resume_mid_gop()
        track = RelayTrack(sub, gop, self.on_sent)
        pc = RTCPeerConnection(self.ice.configuration())
        viewer = Viewer(viewer_id, pc, track)
        try:
            transceiver = pc.addTransceiver(track, direction="sendonly")
            if self.config.leanRtp:
                fastpath.install(transceiver.sender)
            prefer_h264(transceiver)  # before the offer is applied, or the answer picks VP8
            mime = self._relayed_audio(offer_sdp)
            if mime is not None and self.audio is not None:
                audio_sub = fanout.subscribe(f"viewer-{viewer_id[:8]}-audio", AUDIO_QUEUE, audio_only=True)
                viewer.audio = AudioRelayTrack(audio_sub, self.audio.codec)
                audio = pc.addTransceiver(viewer.audio, direction="sendonly")
                codecs = RTCRtpSender.getCapabilities("audio").codecs
                audio.setCodecPreferences([c for c in codecs if c.mimeType.lower() == mime.lower()])
            await pc.setRemoteDescription(
                RTCSessionDescription(without_bandwidth_feedback(offer_sdp), "offer")
            )
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except Exception as exc:  # aiortc raises many kinds on a bad offer; the reason goes back as 400
            track.stop()
            if viewer.audio is not None:
                viewer.audio.stop()
            await pc.close()
            raise ViewerError(400, f"cannot answer this SDP offer: {exc or type(exc).__name__}") from exc
        self.viewers[viewer_id] = viewer
        pc.on("connectionstatechange", lambda: self._state_changed(viewer))
        track.on("ended", lambda: self._forget(viewer))
        viewer.watcher = asyncio.create_task(self._watch(viewer), name=f"viewer-{viewer_id[:8]}")
        log.info(
            "camera %s: viewer %s joined (%d watching, %d packets of GOP replayed)",
            self.context.camera.id,
            viewer_id[:8],
            len(self.viewers),
            len(gop),
        )
        return viewer, pc.localDescription.sdp

    async def close_viewer(self, viewer_id: str) -> bool:
        viewer = self.viewers.pop(viewer_id, None)
        if viewer is None:
            return False
        if viewer.watcher is not None and viewer.watcher is not asyncio.current_task():
            viewer.watcher.cancel()
        viewer.track.stop()
        if viewer.audio is not None:
            viewer.audio.stop()
        with contextlib.suppress(Exception):  # closing a half-dead peer must not fail the caller
            await asyncio.wait_for(viewer.pc.close(), CLOSE_SECONDS)
        log.info(
            "camera %s: viewer %s left (%d watching)",
            self.context.camera.id,
            viewer_id[:8],
            len(self.viewers),
        )
        return True

    def _forget(self, viewer: Viewer) -> None:
        if viewer.id in self.viewers:
            task = asyncio.get_running_loop().create_task(self.close_viewer(viewer.id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _state_changed(self, viewer: Viewer) -> None:
        if viewer.pc.connectionState in ("failed", "closed"):
            self._forget(viewer)

    async def _watch(self, viewer: Viewer) -> None:
        """Close a viewer that stopped sending receiver reports (closed its tab, lost its network) while
        video was being sent to it; a viewer of a camera that is reconnecting is kept."""
        sender = viewer.pc.getSenders()[0]
        timeout = self.config.viewerTimeoutSeconds
        last_seen = time.monotonic()
        last_report = None
        last_sent = viewer.track.sent
        while viewer.id in self.viewers:
            await asyncio.sleep(WATCH_SECONDS)
            stats = await sender.getStats()
            report = next((s.timestamp for s in stats.values() if s.type == "remote-inbound-rtp"), None)
            if report is not None and report != last_report:
                last_report, last_seen = report, time.monotonic()
            if viewer.track.sent == last_sent:  # nothing sent (the camera reconnects): nothing to report on
                last_seen = time.monotonic()
            last_sent = viewer.track.sent
            if time.monotonic() - last_seen > timeout:
                log.info(
                    "camera %s: viewer %s sent no receiver report for %.0f s",
                    self.context.camera.id,
                    viewer.id[:8],
                    timeout,
                )
                await self.close_viewer(viewer.id)
                return

    def _relayed_audio(self, offer_sdp: str) -> str | None:
        """The camera's audio codec as the offer's audio section names it, when it can be relayed."""
        audio = self.audio
        mime = RELAYED.get(audio.codec) if audio is not None else None
        if mime is None:
            return None
        rtpmap = {"audio/PCMU": " PCMU/8000", "audio/PCMA": " PCMA/8000", "audio/opus": " opus/48000"}[mime]
        lines = offer_sdp.replace("\r\n", "\n").split("\n")
        in_audio = False
        for line in lines:
            if line.startswith("m="):
                in_audio = line.startswith("m=audio ")
            elif in_audio and line.startswith("a=rtpmap:") and rtpmap.lower() in line.lower():
                return mime
        return None


def prefer_h264(transceiver: RTCRtpTransceiver) -> None:
    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType in ("video/H264", "video/rtx")])


def without_bandwidth_feedback(sdp: str) -> str:
    """The offer without what asks the viewer for bandwidth feedback (REMB and the abs-send-time header
    extension it is computed from), so the answer does not negotiate it: a relay sends the camera's
    bitrate as it is and cannot act on an estimate, and receivers send REMB up to once per packet when
    a frame's packets arrive in a burst (an aiortc viewer's REMB cost the relay a quarter of its CPU)."""
    lines = sdp.split("\n")
    kept = [
        line
        for line in lines
        if not (line.startswith("a=extmap:") and fastpath.ABS_SEND_TIME_URI in line)
        and not (line.startswith("a=rtcp-fb:") and "goog-remb" in line)
    ]
    return "\n".join(kept)


def check_offer(sdp: str) -> None:
    """Refuse what cannot be a WHEP offer for our video with a reason (raises ViewerError 400)."""
    if not sdp.lstrip().startswith("v=0"):
        raise ViewerError(400, "the body is not an SDP offer (it must start with v=0)")
    lines = sdp.replace("\r\n", "\n").split("\n")
    if not any(line.startswith("m=video ") for line in lines):
        raise ViewerError(400, "the SDP offer has no video media section")
    if not any(line.startswith("a=rtpmap:") and " H264/90000" in line for line in lines):
        raise ViewerError(400, "the SDP offer does not accept H264, the codec relayed without re-encoding")
    if not any(line.startswith("a=ice-ufrag:") for line in lines):
        raise ViewerError(400, "the SDP offer has no ICE credentials (a=ice-ufrag)")
    if not any(line.startswith("a=fingerprint:") for line in lines):
        raise ViewerError(400, "the SDP offer has no DTLS fingerprint (a=fingerprint)")
