"""Crash recovery: a `.part` clip whose writer is gone (killed, fenced off) becomes a normal clip.

Our clips are fragmented MP4 written as they go, so a `.part` is readable up to its last complete
fragment (one GOP lost at most). The camera's next owner, holding its lease (so no one else writes the
camera's files: control/fence.py), remuxes what is readable, without re-encoding, into the clip's final
name with its index line (its exact start and the writer's fencing token come from the clip's own
metadata, written when it was opened), and removes the `.part`. A `.part` with nothing readable is removed.
Blocking (PyAV and the file system): run it in a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from fractions import Fraction
from pathlib import Path

import av
import av.error

from vsnative.media.clip import MP4_OPTIONS, PART_SUFFIX, ClipInfo
from vsnative.recordings import append_index, clip_start

log = logging.getLogger(__name__)
_COMMENT = re.compile(r"vsnative start=(?P<start>[0-9.]+)(?: token=(?P<token>\d+))?")


def orphan_parts(camera_dir: Path) -> list[Path]:
    """The camera's `.part` clips (call before its agent opens its own first clip)."""
    return sorted(camera_dir.glob(f"*/*.mp4{PART_SUFFIX}"))


def recover(part: Path) -> ClipInfo | None:
    """Finalise one `.part`: the clip it holds up to its last complete fragment, indexed, under its final
    name; None when nothing in it is readable (then it is removed)."""
    final = part.with_name(part.name.removesuffix(PART_SUFFIX))
    temporary = part.with_name(part.name + ".recovering")
    try:
        clip = _remux(part, temporary, final)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        log.warning("%s: nothing readable (%s); removed", part, exc)
        clip = None
    if clip is None:
        temporary.unlink(missing_ok=True)
        part.unlink(missing_ok=True)
        return None
    os.replace(temporary, final)
    part.unlink(missing_ok=True)
    clip = ClipInfo(final, clip.start, clip.duration, clip.frames, final.stat().st_size, clip.token)
    append_index(clip, recovered=True)
    log.info("%s: recovered %d frames (%.1f s) from an unfinished clip", final, clip.frames, clip.duration)
    return clip


def _remux(part: Path, temporary: Path, final: Path) -> ClipInfo | None:
    with av.open(str(part)) as source:
        video = next((s for s in source.streams if s.type == "video"), None)
        if video is None:
            return None
        start, token = _start_and_token(source.metadata.get("comment", ""), final)
        streams = [s for s in source.streams if s.type in ("video", "audio")]
        first: int | None = None
        last_end = 0
        frames = 0
        with av.open(str(temporary), "w", format="mp4", options=dict(MP4_OPTIONS)) as out:
            mapping = {}
            for stream in streams:
                mapped = out.add_stream_from_template(stream)
                mapped.time_base = stream.time_base
                mapping[stream.index] = mapped
            with contextlib.suppress(av.error.FFmpegError):  # the last fragment, cut short: stop there
                for packet in source.demux(streams):
                    if packet.dts is None or not packet.size:
                        continue
                    if packet.stream.index == video.index:
                        if first is None:
                            first = packet.pts if packet.pts is not None else packet.dts
                        end = (packet.pts if packet.pts is not None else packet.dts) + (packet.duration or 0)
                        last_end = max(last_end, end)
                        frames += 1
                    packet.stream = mapping[packet.stream.index]
                    out.mux(packet)
        if not frames or first is None:
            return None
        tb = video.time_base or Fraction(1, 90000)
        duration = float((last_end - first) * tb)
    return ClipInfo(final, start, duration, frames, 0, token)


def _start_and_token(comment: str, final: Path) -> tuple[float, int | None]:
    match = _COMMENT.search(comment)
    if match:
        token = match["token"]
        return float(match["start"]), int(token) if token else None
    named = clip_start(final)  # a clip written before the metadata: its name's second
    if named is None:
        raise ValueError(f"{final.name}: not a clip name and no start in its metadata")
    return named.timestamp(), None
