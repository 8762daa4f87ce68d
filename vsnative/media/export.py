"""Joining clips into one MP4 without re-encoding: from the keyframe at or before `start` up to `end`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
from av.container import OutputContainer
from av.packet import Packet
from av.stream import Stream

from vsnative.errors import VsnError

log = logging.getLogger(__name__)
# reading a clip that retention deleted after it was listed, or one the disk damaged
UNREADABLE = (av.error.FFmpegError, OSError)


class ExportError(VsnError):
    """The range holds nothing to export."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    start: float  # wall clock of the first exported frame: the keyframe at or before the requested start
    duration: float  # seconds of video
    video_frames: int


def keyframe_at_or_before(path: Path, clip_start: float, start: float) -> float:
    """Wall-clock time of the last keyframe at or before `start` in a clip (its first frame at worst)."""
    best = clip_start
    if start <= clip_start:
        return best
    with av.open(str(path)) as inp:
        video = inp.streams.video[0]
        for packet in inp.demux(video):
            if packet.dts is None:
                continue
            at = clip_start + float(packet.dts * packet.time_base)
            if at > start:
                break
            if packet.is_keyframe:
                best = at
    return best


def _unreadable(path: Path, exc: Exception) -> None:
    log.warning("export: clip %s cannot be read (from there on it is a gap): %s", path.name, exc)


def _read(path: Path) -> Iterator[tuple[list[Stream], Packet[Stream]]]:
    """A clip's video and audio packets, each with the clip's video and audio streams. Reading stops at
    the first read error, with a warning; errors of the consumer (writing the export) are not caught."""
    try:
        with av.open(str(path)) as inp:
            sources = [s for s in inp.streams if s.type in ("video", "audio")]
            for packet in inp.demux(*sources):
                yield sources, packet
    except UNREADABLE as exc:
        _unreadable(path, exc)


def export(clips: list[tuple[Path, float]], start: float, end: float, out_path: Path) -> ExportResult:
    """Remux clips (path, wall-clock start), oldest first, covering [start, end) into out_path.

    Blocking: run it in a worker thread. Each clip's timestamps are placed at (clip start - export start),
    so joins between contiguous clips are seamless and a gap between clips stays a gap in the timeline.
    A clip that cannot be read (deleted by retention since it was listed, damaged) is left out from where
    reading failed, with a warning: what it held becomes a gap, like any other. The export starts in the
    first clip that can be read.
    """
    if not clips:
        raise ExportError("no recording in that range")
    out: OutputContainer = av.open(str(out_path), "w", format="mp4", options={"movflags": "faststart"})
    streams: dict[str, Stream] = {}
    last_dts: dict[str, int] = {}
    origin: float | None = None
    frames = 0
    video_end = 0.0
    try:
        for path, clip_start in clips:
            if origin is None:
                try:
                    origin = keyframe_at_or_before(path, clip_start, start)
                except UNREADABLE as exc:
                    _unreadable(path, exc)
                    continue
            for sources, packet in _read(path):
                if not streams:  # MP4 tracks are fixed by the first clip read
                    streams = {s.type: out.add_stream_from_template(s) for s in sources}
                kind = packet.stream.type
                if packet.dts is None or packet.size == 0 or kind not in streams:
                    continue
                tb = packet.time_base
                at = clip_start + float(packet.dts * tb)
                if at < origin - 1e-4 or at >= end:
                    continue
                offset = round((clip_start - origin) / tb)
                dts = packet.dts + offset
                if dts <= last_dts.get(kind, -1):
                    continue  # audio overlapping the join: the previous clip already has it
                last_dts[kind] = dts
                packet.pts = (packet.pts if packet.pts is not None else packet.dts) + offset
                packet.dts = dts
                packet.stream = streams[kind]
                if kind == "video":
                    frames += 1
                    video_end = max(video_end, at - origin + float((packet.duration or 0) * tb))
                out.mux(packet)
    finally:
        out.close()
    if frames == 0 or origin is None:
        raise ExportError("no video frame in that range")
    return ExportResult(origin, video_end, frames)
