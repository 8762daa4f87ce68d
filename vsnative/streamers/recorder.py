"""`mp4Recorder` streamer: cuts the compressed stream into MP4 clips at keyframes, never re-encoding."""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal

import av.error
from pydantic import BaseModel, ConfigDict, Field

from vsnative import telemetry
from vsnative.media.audio import CONVERTED, AacConverter
from vsnative.media.camera_clock import CameraClock
from vsnative.media.clip import ClipInfo, ClipWriter
from vsnative.media.fanout import GAP, Item, Marker, PacketQueue
from vsnative.media.packets import EncodedPacket, MediaTrack, StreamInfo
from vsnative.recordings import append_index, clip_path
from vsnative.streamers.base import STREAMERS, StreamerContext, ThreadedStreamer

log = logging.getLogger(__name__)


class Mp4RecorderConfig(BaseModel):
    """Options of the recorder (settings/pipeline.json, a `streamers` entry)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["mp4Recorder"] = "mp4Recorder"
    clipSeconds: float = Field(5.0, ge=1, le=3600)
    maxGapSeconds: float = Field(2.0, gt=0, description="a timestamp jump larger than this closes the clip")
    queuePackets: int = Field(512, ge=16)


@dataclass
class _Timeline:
    """One connection's clock (when its pictures were filmed) and where its last clip ended."""

    clock: CameraClock
    end: float | None = None  # wall clock: the end of the connection's last clip closed


BATCH_PACKETS = 64  # packets handed to the mux thread at once
BATCH_SECONDS = 1.0  # ...or after this long (the open fragment is only written at the next keyframe anyway)
FIRST_GOP_SECONDS = 10.0  # the longest GOP assumed before the first clip shows the camera's own
RECORDING_MARGIN_SECONDS = 5.0  # a clip closing later than this after its time is a recording that stalled
ENDING_SECONDS = 1.0  # a clip cut at a keyframe takes the audio of its time for at most this long after
MAX_PENDING_BATCHES = 32  # batches waiting for the mux thread (about 30 s of video); past it the disk is
# taken as stalled and new batches are dropped (counted), so memory stays bounded; a gap then closes the clip


@STREAMERS.register("mp4Recorder")
class Mp4Recorder(ThreadedStreamer):
    """Clip rules: a new clip starts at the first keyframe at or after `clipSeconds`; a reconnect, a dropped
    backlog or a timestamp jump closes the clip, so a gap is always between clips, never inside one."""

    config_model = Mp4RecorderConfig
    config: Mp4RecorderConfig
    essential = True  # recording is what an agent is for

    def __init__(self, config: Mp4RecorderConfig, context: StreamerContext) -> None:
        super().__init__(config, context)
        self._inbox = PacketQueue(config.queuePackets)
        self._batch_started = 0.0
        self._last: Future[None] | None = None
        self._lock = threading.Lock()
        self._todo: collections.deque[tuple[list[Item], bool]] = collections.deque()
        self._draining = False
        self._writer: ClipWriter | None = None  # the open clip (mux thread)
        self._writer_before: ClipWriter | None = None  # the one before it (its frame interval is kept)
        self._last_dts: dict[int, int] = {}  # per track, in the open clip
        self._clip_ticks = 0  # clipSeconds in the open clip's video time base
        self._max_gap_ticks: list[int] = []  # maxGapSeconds in each track's time base
        self._timelines: dict[int, _Timeline] = {}  # by session: the current one, and the last one's
        # clips still closing
        self._resume: tuple[StreamInfo, float, float] | None = None  # after a jump: session, where the
        # closed clip ended (wall clock), when the jump arrived
        self._stall_drops = 0  # packets dropped while the mux thread was too far behind
        self._gap_pending = False
        self._session: StreamInfo | None = None  # of the packets last recorded (mux thread)
        self._tracks: tuple[MediaTrack, ...] = ()  # what the session's clips hold
        self._converter: AacConverter | None = None  # the session's G.711 audio, to AAC
        self._converted = -1  # the index of the track it converts
        self._ending: ClipWriter | None = None  # the previous clip, still taking the audio of its time
        self.lost = 0  # video pictures that no clip could take (counted in drops)
        self.longest = 0.0  # seconds: the longest clip closed (clipSeconds + the camera's GOP, about)
        self._broken = False  # the last clip ended on a jump or an error: pictures until a keyframe are lost
        self.failures = 0
        self._fence = context.fence  # None: no lease to prove (an agent run alone, in tests and benches)
        self.fenced = 0  # packets not written because the lease's deadline had passed
        self._fenced_at = 0.0  # monotonic: when writing stopped for the lease (0: it writes)

    @property
    def clip_deadline(self) -> float:
        """Seconds within which the next clip must close while recording works: the longest clip so far
        (clipSeconds + one GOP) or, before the first, clipSeconds + a GOP of up to 10 s; plus a margin."""
        return (self.longest or self.config.clipSeconds + FIRST_GOP_SECONDS) + RECORDING_MARGIN_SECONDS

    @property
    def dropped(self) -> int:
        """Packets lost: to the inbox's overflow, while the disk was stalled, and video no clip could take
        (after a timestamp jump, until the next keyframe)."""
        return self._inbox.dropped + self._stall_drops + self.lost

    # --- the clip rules, applied in the mux thread (PyAV and the file system) ------------------------
    def _record(self, packet: EncodedPacket, closed: list[ClipInfo]) -> None:
        """One packet: cut, open or write. Kept lean: this runs for every packet of every camera."""
        if packet.info is not self._session:
            self._start_session(packet.info)
        if packet.track == self._converted:
            for aac in self._converter.convert(packet) if self._converter is not None else ():
                self._mux(aac, closed)
            return
        self._mux(packet, closed)

    def _start_session(self, info: StreamInfo) -> None:
        """A new connection: its clock, and what its tracks become in the clips (G.711 converted to AAC)."""
        self._session, self._broken = info, False
        timelines = self._timelines
        for session in [s for s in timelines if s < info.session - 1]:
            del timelines[session]
        timelines[info.session] = _Timeline(CameraClock(info, self.context.camera.id))
        self._converter, self._converted, self._tracks = None, -1, info.tracks
        audio = info.audio
        if audio is not None and audio.codec in CONVERTED:
            try:
                self._converter = AacConverter(audio)
            except (av.error.FFmpegError, TypeError, ValueError) as exc:
                log.warning(
                    "%s: audio left out of the clips: cannot convert it to AAC (%s)",
                    self.context.camera.id,
                    exc,
                )
                self._tracks = tuple(t for t in info.tracks if t is not audio)
            else:
                self._tracks = tuple(self._converter.track if t is audio else t for t in info.tracks)
            self._converted = audio.index

    def _mux(self, packet: EncodedPacket, closed: list[ClipInfo]) -> None:
        fence = self._fence
        if fence is not None:
            if not fence.valid():  # before anything touches a file
                self._fence_off(packet)
                return
            if self._fenced_at:
                self._fence_lifted()
        writer = self._writer
        track = packet.track
        video = packet.is_video
        ending = self._ending
        if ending is not None and self._end_previous(ending, packet, video, closed):
            return
        if writer is not None:
            last = self._last_dts.get(track)
            if packet.info is not writer.info:  # a new session: the camera reconnected
                self._close(closed)
                writer = None
            elif last is not None and not 0 < packet.dts - last <= self._max_gap_ticks[track]:
                if not video:
                    return  # a stray audio packet: drop it, keep the clip
                log.warning(
                    "%s: timestamp jump of %.3f s, closing clip",
                    self.context.camera.id,
                    packet.seconds(packet.dts - last),
                )
                # the camera's clock restarted or jumped, not the time: the next clip goes on from here
                self._broken = True
                self._close(closed)
                end = self._timelines[packet.info.session].end
                self._resume = (packet.info, end, packet.wallclock) if end is not None else None
                writer = None
        if video:  # after the jump check: a jumped clock's picture must not date the clip it closed
            self._timelines[packet.info.session].clock.observe(packet)
        if video and packet.keyframe:
            if writer is not None and packet.dts - writer.first_dts >= self._clip_ticks:
                self._cut(packet, closed)
                writer = None
            if writer is None:
                self._open(packet)
                return
        if writer is not None:
            self._last_dts[track] = packet.dts
            try:
                writer.write(packet)
            except Exception:
                log.exception("%s: clip write failed", self.context.camera.id)
                self._drop()
        elif video and self._broken:  # no clip takes it until the next keyframe (after a jump or an error;
            self.lost += 1  # the pictures before a connection's first keyframe are no loss)

    def _cut(self, keyframe: EncodedPacket, closed: list[ClipInfo]) -> None:
        """The clip's time is up at this keyframe. With audio, the clip is finished only once the camera's
        audio has reached the cut (audio arrives in packets of up to 128 ms, after the video of its time
        sometimes): each audio packet then goes into the clip of its time and none is lost at the cut."""
        writer = self._writer
        if writer is None or len(self._tracks) == 1:
            self._close(closed)
            return
        self._finish_ending(closed)
        self._writer, self._last_dts = None, {}
        writer.cut_at(keyframe)
        self._ending = self._writer_before = writer

    def _end_previous(
        self, ending: ClipWriter, packet: EncodedPacket, video: bool, closed: list[ClipInfo]
    ) -> bool:
        """While the previous clip waits for its last audio: True when this packet went into it."""
        if packet.info is ending.info and not video and ending.before_cut(packet):
            try:
                ending.write(packet)
            except Exception:
                log.exception("%s: clip write failed", self.context.camera.id)
                self._ending = None
                self.failures += 1
                ending.abandon()
            return True
        if not video or packet.info is not ending.info or ending.past_cut(packet, ENDING_SECONDS):
            self._finish_ending(closed)
        return False

    def _finish_ending(self, closed: list[ClipInfo]) -> None:
        ending, self._ending = self._ending, None
        if ending is not None:
            self._finish(ending, closed)

    def _open(self, packet: EncodedPacket) -> None:
        start = self._wallclock(packet)
        try:
            path = clip_path(self.context.recordings_dir, self.context.camera.id, start)
            token = self._fence.token if self._fence is not None else None
            before = self._writer_before  # the clip this one follows, of the same connection
            ticks = before.frame_ticks if before is not None and before.info is packet.info else 0
            self._writer = ClipWriter(path, packet, start, self._tracks, token, ticks)
            self._broken = False
        except Exception:
            log.exception("%s: cannot start a clip", self.context.camera.id)
            self._drop()
            return
        self._last_dts = {packet.track: packet.dts}
        tracks = packet.info.tracks
        self._clip_ticks = round(self.config.clipSeconds / tracks[packet.track].tick)
        self._max_gap_ticks = [round(self.config.maxGapSeconds / track.tick) for track in tracks]

    def _close(self, closed: list[ClipInfo]) -> None:
        self._finish_ending(closed)
        writer, self._writer = self._writer, None
        self._last_dts = {}
        if writer is not None:
            self._finish(writer, closed)

    def _finish(self, writer: ClipWriter, closed: list[ClipInfo]) -> None:
        self._writer_before = writer
        fence = self._fence
        if fence is not None and not fence.valid():  # no trailer, no rename, no index line
            writer.fence_off()
            return
        timeline = self._timelines.get(writer.info.session)
        if timeline is not None:  # its exact start, now that the clock has settled; never overlapping
            first = writer.info.tracks[writer.info.video_index]
            filmed = timeline.clock.filmed_at(writer.first_dts * first.tick, writer.start_wallclock)
            writer.start_wallclock = max(filmed, timeline.end) if timeline.end is not None else filmed
            timeline.end = writer.start_wallclock + writer.duration
        try:
            clip = writer.close()
            append_index(clip)
        except Exception:
            log.exception("%s: cannot close a clip", self.context.camera.id)
            self.failures += 1
            writer.abandon()
            return
        closed.append(clip)

    def _fence_off(self, packet: EncodedPacket) -> None:
        """The lease's deadline has passed: the open clips are cut off where they are (left `.part`, for
        the camera's next owner), this packet and all until the lease is proven again are not written
        (counted in `fenced`); then recording resumes at a keyframe, in a new clip."""
        self.fenced += 1
        if self._fenced_at:
            return
        self._fenced_at = time.monotonic()
        for writer in (self._writer, self._ending):
            if writer is not None:
                writer.fence_off()
        self._writer, self._ending, self._last_dts = None, None, {}
        self._broken = False  # what is not written is counted in `fenced`, not `lost`
        fence = self._fence
        log.error(
            "%s: the lease (token %s) is %s: writing stopped; the clip in progress stays .part for the "
            "camera's next owner",
            self.context.camera.id,
            fence.token if fence is not None else "?",
            "lost" if fence is not None and fence.revoked else "not proven (its deadline has passed)",
        )

    def _fence_lifted(self) -> None:
        """The lease was proven again (renewed; nobody took the camera): the next keyframe opens a clip."""
        log.warning(
            "%s: lease proven again after %.1f s: recording resumes (%d packets not written)",
            self.context.camera.id,
            time.monotonic() - self._fenced_at,
            self.fenced,
        )
        self._fenced_at = 0.0

    def _drop(self) -> None:
        """After a disk or muxer error (logged): the agent goes on. This clip is dropped (what reached the
        disk stays `.part`) and counted; the next one starts at a keyframe."""
        self.failures += 1
        self._broken = True
        writer, self._writer = self._writer, None
        self._last_dts = {}
        if writer is not None:
            writer.abandon()

    def _wallclock(self, packet: EncodedPacket) -> float:
        """When the clip starting at this keyframe was filmed (for its name; its exact start is settled
        when it closes). After a timestamp jump, the connection's clock is rebased where the last clip
        ended plus the time that passed."""
        timeline = self._timelines[packet.info.session]
        resume, self._resume = self._resume, None
        if resume is not None and resume[0] is packet.info:
            _, end, jumped_at = resume
            at = end + max(0.0, packet.wallclock - jumped_at)  # what was not recorded since lies between
            if abs(at - packet.wallclock) <= 2.0:
                timeline.clock.rebase(packet, at)
        return timeline.clock.filmed(packet)

    # --- feeding (framer thread) and flushing (event loop) ------------------------------------------
    def offer(self, packet: EncodedPacket) -> None:
        """Queue a packet; hand a batch to the mux thread every BATCH_PACKETS or BATCH_SECONDS."""
        inbox = self._inbox
        if not inbox._offer(packet):
            return
        if not self._batch_started:
            self._batch_started = packet.wallclock
        if len(inbox) >= BATCH_PACKETS or packet.wallclock - self._batch_started >= BATCH_SECONDS:
            self._submit(inbox.drain(), cut=False)

    def end_session(self) -> None:
        self._submit(self._inbox.drain(), cut=True)

    async def finish(self) -> None:
        self.end_session()
        if self._last is not None:
            await asyncio.shield(asyncio.wrap_future(self._last))

    def _submit(self, items: list[Item], cut: bool) -> None:
        """Queue a batch; batches of one recorder are written one after the other, in order, whatever
        the executor (one job drains them all while it finds more)."""
        self._batch_started = 0.0
        if not (items or cut):
            return
        with self._lock:
            if len(self._todo) >= MAX_PENDING_BATCHES and not cut:  # the writer is stuck (a stalled disk)
                if not self._gap_pending:
                    log.warning(
                        "%s: clip writing is %d batches behind (disk stalled?): dropping video until it "
                        "catches up",
                        self.context.camera.id,
                        len(self._todo),
                    )
                self._stall_drops += sum(1 for item in items if isinstance(item, EncodedPacket))
                self._gap_pending = True
                return
            if self._gap_pending:  # what was dropped lies between clips: the open clip closes here
                items = [GAP, *items]
                self._gap_pending = False
                log.info("%s: clip writing caught up, recording resumes", self.context.camera.id)
            self._todo.append((items, cut))
            if self._draining:
                return
            self._draining = True
        executor = self.context.mux_executor or self.context.io_executor
        self._last = executor.submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._todo:
                    self._draining = False
                    return
                items, cut = self._todo.popleft()
            self._write_batch(items, cut)

    def _write_batch(self, items: list[Item], cut: bool) -> None:
        """Write one batch (the mux thread: one at a time, in order). A GAP closes the clip."""
        closed: list[ClipInfo] = []
        record = self._record
        for item in items:
            if isinstance(item, Marker):
                self._close(closed)
            else:
                record(item, closed)
        if cut:
            self._end_session(closed)
        if closed:
            self.loop.call_soon_threadsafe(self._publish, closed)

    def _end_session(self, closed: list[ClipInfo]) -> None:
        """The session is over: the open clip closes, with the converted audio the AAC encoder still held
        (its last quarter second); the next session starts afresh."""
        converter, self._converter = self._converter, None
        if converter is not None:
            for aac in converter.flush():
                self._mux(aac, closed)
        self._close(closed)
        self._session = None

    def _publish(self, clips: list[ClipInfo]) -> None:
        for clip in clips:
            telemetry.event(
                "clip.write",
                {
                    "camera.id": self.context.camera.id,
                    "clip.file": clip.path.name,
                    "clip.duration_s": round(clip.duration, 3),
                    "clip.bytes": clip.size,
                    "clip.frames": clip.frames,
                },
            )
            self.context.counters.clips += 1
            self.context.counters.last_clip_end = clip.start + clip.duration
            self.longest = max(self.longest, clip.duration)
            log.debug(
                "%s: clip %s (%.2f s, %d frames)",
                self.context.camera.id,
                clip.path.name,
                clip.duration,
                clip.frames,
            )
            for listener in self.context.clip_listeners:
                listener(self.context.camera.id, clip)
