"""Joining clips into one MP4 without re-encoding: from the keyframe at or before `start` up to `end`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
from av.container import OutputContainer
from av.stream import Stream

from vsnative.errors import VsnError


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


def export(clips: list[tuple[Path, float]], start: float, end: float, out_path: Path) -> ExportResult:
    """Remux clips (path, wall-clock start), oldest first, covering [start, end) into out_path.

    Blocking: run it in a worker thread. Each clip's timestamps are placed at (clip start - export start),
    so joins between contiguous clips are seamless and a gap between clips stays a gap in the timeline.
    """
    if not clips:
        raise ExportError("no recording in that range")
    first_path, first_start = clips[0]
    origin = keyframe_at_or_before(first_path, first_start, start) if start > first_start else first_start
    out: OutputContainer = av.open(str(out_path), "w", format="mp4", options={"movflags": "faststart"})
    streams: dict[str, Stream] = {}
    last_dts: dict[str, int] = {}
    frames = 0
    video_end = 0.0
    try:
        for index, (path, clip_start) in enumerate(clips):
            with av.open(str(path)) as inp:
                sources = [s for s in inp.streams if s.type in ("video", "audio")]
                for source in sources:
                    if source.type not in streams and index == 0:  # MP4 tracks are fixed by the first clip
                        streams[source.type] = out.add_stream_from_template(source)
                for packet in inp.demux(*sources):
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
    if frames == 0:
        raise ExportError("no video frame in that range")
    return ExportResult(origin, video_end, frames)
