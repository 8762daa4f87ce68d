"""`mp4Recorder` streamer: cuts the compressed stream into MP4 clips at keyframes, never re-encoding."""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vsnative import telemetry
from vsnative.media.clip import ClipInfo, ClipWriter
from vsnative.media.fanout import GAP, Item, Marker, PacketQueue
from vsnative.media.packets import EncodedPacket, StreamInfo
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
class _Anchor:
    """Maps a session's video timestamps to wall clock, re-anchored if the two drift apart."""

    info: StreamInfo
    wallclock: float
    dts: int

    def wall(self, packet: EncodedPacket) -> float:
        return self.wallclock + packet.seconds(packet.dts - self.dts)


BATCH_PACKETS = 64  # packets handed to the mux thread at once
BATCH_SECONDS = 1.0  # ...or after this long (the open fragment is only written at the next keyframe anyway)
MAX_PENDING_BATCHES = 32  # batches waiting for the mux thread (about 30 s of video); past it the disk is
# taken as stalled and new batches are dropped (counted), so memory stays bounded; a gap then closes the clip

Op = (
    tuple[Literal["open"], EncodedPacket, float]
    | tuple[Literal["write"], EncodedPacket]
    | tuple[Literal["close"]]
)


@STREAMERS.register("mp4Recorder")
class Mp4Recorder(ThreadedStreamer):
    """Clip rules: a new clip starts at the first keyframe at or after `clipSeconds`; a reconnect, a dropped
    backlog or a timestamp jump closes the clip, so a gap is always between clips, never inside one."""

    config_model = Mp4RecorderConfig
    config: Mp4RecorderConfig

    def __init__(self, config: Mp4RecorderConfig, context: StreamerContext) -> None:
        super().__init__(config, context)
        self._inbox = PacketQueue(config.queuePackets)
        self._batch_started = 0.0
        self._last: Future[None] | None = None
        self._lock = threading.Lock()
        self._todo: collections.deque[tuple[list[Item], bool]] = collections.deque()
        self._draining = False
        self._writer: ClipWriter | None = None
        self._open = False  # decision-side view of whether a clip is open
        self._clip_info: StreamInfo | None = None
        self._clip_start_dts = 0
        self._last_dts: dict[int, int] = {}
        self._anchor: _Anchor | None = None
        self._stall_drops = 0  # packets dropped while the mux thread was too far behind
        self._gap_pending = False
        self.failures = 0

    @property
    def dropped(self) -> int:
        """Packets lost: to the inbox's overflow, and while the disk was stalled."""
        return self._inbox.dropped + self._stall_drops

    # --- decisions (event loop, pure bookkeeping) -------------------------------------------------
    def plan(self, item: Item) -> list[Op]:
        """Turn one fan-out item into writer operations."""
        if isinstance(item, Marker):
            return self._cut()
        packet = item
        ops = self._cut() if self._open and packet.info is not self._clip_info else []
        track = packet.track
        last = self._last_dts.get(track)
        if self._open and last is not None:
            jump = packet.seconds(packet.dts - last)
            if packet.dts <= last or jump > self.config.maxGapSeconds:
                if not packet.is_video:
                    return ops  # a stray audio packet: drop it, keep the clip
                log.warning("%s: timestamp jump of %.3f s, closing clip", self.context.camera.id, jump)
                ops += self._cut()
        if packet.is_video and packet.keyframe:
            start = (
                self._open and packet.seconds(packet.dts - self._clip_start_dts) >= self.config.clipSeconds
            )
            if start:
                ops += self._cut()
            if not self._open:
                self._open = True
                self._clip_info = packet.info
                self._clip_start_dts = packet.dts
                self._last_dts = {track: packet.dts}
                ops.append(("open", packet, self._wallclock(packet)))
                return ops
        if self._open:
            self._last_dts[track] = packet.dts
            ops.append(("write", packet))
        return ops

    def _cut(self) -> list[Op]:
        if not self._open:
            return []
        self._open = False
        self._clip_info = None
        self._last_dts = {}
        return [("close",)]

    def _wallclock(self, packet: EncodedPacket) -> float:
        anchor = self._anchor
        if (
            anchor is None
            or anchor.info is not packet.info
            or abs(anchor.wall(packet) - packet.wallclock) > 2.0
        ):
            anchor = self._anchor = _Anchor(packet.info, packet.wallclock, packet.dts)
        return anchor.wall(packet)

    # --- execution (worker thread: PyAV and the file system) --------------------------------------
    def _apply(self, ops: list[Op]) -> list[ClipInfo]:
        closed = []
        for op in ops:
            try:
                if op[0] == "write":
                    if self._writer is not None:
                        self._writer.write(op[1])
                elif op[0] == "open":
                    path = clip_path(self.context.recordings_dir, self.context.camera.id, op[2])
                    self._writer = ClipWriter(path, op[1], op[2])
                else:
                    clip = self._close_writer()
                    if clip is not None:
                        closed.append(clip)
            except Exception:
                # A failing disk must not stop the agent: drop this clip, count it, start again at a keyframe.
                log.exception("%s: clip write failed", self.context.camera.id)
                self.failures += 1
                if self._writer is not None:
                    self._writer.abandon()
                    self._writer = None
        return closed

    def _close_writer(self) -> ClipInfo | None:
        writer, self._writer = self._writer, None
        if writer is None:
            return None
        clip = writer.close()
        append_index(clip)
        return clip

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
        """Plan and write one batch (the mux thread: one at a time, in order)."""
        ops = [op for item in items for op in self.plan(item)]
        if cut:
            ops += self._cut()
        closed = self._apply(ops)
        if closed:
            self.loop.call_soon_threadsafe(self._publish, closed)

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
            log.debug(
                "%s: clip %s (%.2f s, %d frames)",
                self.context.camera.id,
                clip.path.name,
                clip.duration,
                clip.frames,
            )
            for listener in self.context.clip_listeners:
                listener(self.context.camera.id, clip)
