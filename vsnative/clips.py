"""Finding recorded clips by time: per-day indexes read into typed records, gaps between clips marked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vsnative.recordings import read_index

CAMERA_DIR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CLIP_FILE = re.compile(r"^\d{2}-\d{2}-\d{2}(?:-\d+)?\.mp4$")
GAP_TOLERANCE = 0.5  # seconds between one clip's end and the next start that still count as contiguous


@dataclass(frozen=True, slots=True)
class Clip:
    path: Path
    day: str
    start: float  # epoch seconds of the first frame
    duration: float
    frames: int
    size: int

    @property
    def end(self) -> float:
        return self.start + self.duration


LATEST = datetime(9999, 12, 30, tzinfo=UTC).timestamp()  # times past it have no calendar date


def parse_time(text: str) -> float:
    """ISO 8601 (naive means UTC) or unix seconds -> epoch seconds, from 1970 to 9999. Raises ValueError."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp()
    if not 0 <= seconds <= LATEST:  # NaN too
        raise ValueError(f"{text!r} is not a time between 1970 and 9999")
    return seconds


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clips_between(root: Path, camera_id: str, start: float, end: float) -> list[Clip]:
    """Closed clips of a camera that overlap [start, end), oldest first (blocking: file system)."""
    camera_dir = root / camera_id
    first = datetime.fromtimestamp(start, UTC).date() - timedelta(days=1)  # a clip may cross midnight
    last = datetime.fromtimestamp(end, UTC).date()
    clips = []
    day = first
    while day <= last:
        day_dir = camera_dir / day.isoformat()
        for entry in read_index(day_dir):
            clip = Clip(
                day_dir / str(entry["file"]),
                day.isoformat(),
                float(entry["start"]),  # type: ignore[arg-type]
                float(entry["duration"]),  # type: ignore[arg-type]
                int(entry["frames"]),  # type: ignore[call-overload]
                int(entry["size"]),  # type: ignore[call-overload]
            )
            if clip.end > start and clip.start < end:
                clips.append(clip)
        day += timedelta(days=1)
    clips.sort(key=lambda c: c.start)
    return clips


def gaps(clips: list[Clip], start: float, end: float) -> list[tuple[float, float]]:
    """Stretches of [start, end) that no clip covers."""
    holes = []
    cursor = start
    for clip in clips:
        if clip.start - cursor > GAP_TOLERANCE:
            holes.append((cursor, clip.start))
        cursor = max(cursor, clip.end)
    if end - cursor > GAP_TOLERANCE:
        holes.append((cursor, end))
    return holes


def clip_file(root: Path, camera_id: str, day: str, name: str) -> Path | None:
    """The clip file a URL names; None for a name that is not ours or that resolves outside the camera."""
    if not (DAY.match(day) and CLIP_FILE.match(name)):
        return None
    base = (root / camera_id).resolve()
    path = (root / camera_id / day / name).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path
