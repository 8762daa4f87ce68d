"""Finding recorded clips by time: per-day indexes read into typed records, gaps between clips marked;
`ClipIndex` (one per service, in `Services.clips`) keeps the days it read while they do not change, for
the clip listing, exports, event clips and playlists of days of clips (vod.py) alike."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from vsnative.recordings import INDEX_NAME, read_index

CAMERA_DIR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CLIP_FILE = re.compile(r"^\d{2}-\d{2}-\d{2}(?:-\d+)?\.mp4$")
GAP_TOLERANCE = 0.5  # seconds between one clip's end and the next start that still count as contiguous


class Clip(NamedTuple):
    """A closed clip, as its day's index says. A tuple: a week of one camera is 120,000 of them, and a
    frozen dataclass (or a Path each) took most of a playlist's first answer (bench/vod.py)."""

    folder: Path  # its day's folder
    name: str  # its file name
    day: str
    start: float  # epoch seconds of the first frame
    duration: float
    frames: int
    size: int
    init: int | None = None  # bytes of its init section (ftyp + moov), when the index says
    media_end: int | None = None  # where its fragments end
    config: str | None = None  # what its init section says of the media (boxes.media_config)

    @property
    def path(self) -> Path:
        return self.folder / self.name

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


def _days_of(camera_dir: Path, start: float, end: float) -> Iterator[str]:
    """The day folders (UTC, as they are named) of the camera that may hold clips of [start, end), oldest
    first: from the day before `start` (a clip may cross midnight) to the day of `end`. Taken from one
    listing of the camera's folder, not by walking the calendar: a range of centuries is as quick as a day
    (walking it, a clip listing up to the year 3467 took 10 s: found by schemathesis)."""
    first = (datetime.fromtimestamp(start, UTC).date() - timedelta(days=1)).isoformat()
    last = datetime.fromtimestamp(end, UTC).date().isoformat()
    try:
        names = os.listdir(camera_dir)
    except (FileNotFoundError, NotADirectoryError):
        return
    yield from sorted(n for n in names if first <= n <= last and DAY.match(n))  # ISO dates sort as days


def day_clips(day_dir: Path, day: str, entries: list[dict[str, object]]) -> list[Clip]:
    clips = []
    for entry in entries:
        init, media_end, config = entry.get("init"), entry.get("mediaEnd"), entry.get("config")
        clips.append(
            Clip(
                day_dir,
                str(entry["file"]),
                day,
                float(entry["start"]),  # type: ignore[arg-type]
                float(entry["duration"]),  # type: ignore[arg-type]
                int(entry["frames"]),  # type: ignore[call-overload]
                int(entry["size"]),  # type: ignore[call-overload]
                init if isinstance(init, int) else None,
                media_end if isinstance(media_end, int) else None,
                config if isinstance(config, str) else None,
            )
        )
    return clips


@dataclass(frozen=True, slots=True)
class Day:
    path: Path
    key: tuple[int, int, int]  # its index's size and times: a new key is a changed day
    whole: bool  # every clip of the day is in the range asked for


class ClipIndex:
    """The clips of the recordings folder by time, each day's index read once while it and its folder stay
    as they are (its size and both modification times: a clip closed appends a line, retention deletes
    files). Days of clips answer from memory: 7 days of one camera are 120,000 clips (bench/vod.py).
    Blocking (file system); thread-safe (a day read twice at once is read twice, no harm)."""

    def __init__(self, root: Path, max_clips: int = 250_000) -> None:
        self.root = root
        # clips kept, over every camera and day: ~250 bytes each (60 MB at most), the oldest read dropped
        # first; two weeks of one camera of 5 s clips, or a week of two
        self.max_clips = max_clips
        self._days: dict[Path, tuple[tuple[int, int, int], list[Clip]]] = {}
        self._kept = 0

    def between(self, camera_id: str, start: float, end: float) -> list[Clip]:
        """Closed clips of a camera that overlap [start, end), oldest first."""
        return [clip for _, clips in self.days(camera_id, start, end) for clip in clips]

    def days(self, camera_id: str, start: float, end: float) -> list[tuple[Day, list[Clip]]]:
        """The days holding clips of [start, end), oldest first, each with its clips in the range (sorted
        by start) and whether that is the whole day (what a cache of a day's playlist text keys on:
        `Day.key` changes when the day does)."""
        out: list[tuple[Day, list[Clip]]] = []
        for day in _days_of(self.root / camera_id, start, end):
            day_dir = self.root / camera_id / day
            key, clips = self._day(day_dir, day)
            inside = [c for c in clips if c.end > start and c.start < end]
            if inside:
                out.append((Day(day_dir, key, len(inside) == len(clips)), inside))
        return out

    def _day(self, day_dir: Path, day: str) -> tuple[tuple[int, int, int], list[Clip]]:
        try:
            index = os.stat(day_dir / INDEX_NAME)
            folder = os.stat(day_dir)
        except FileNotFoundError:
            old = self._days.pop(day_dir, None)
            self._kept -= len(old[1]) if old else 0
            return (0, 0, 0), []
        key = (index.st_size, index.st_mtime_ns, folder.st_mtime_ns)
        cached = self._days.get(day_dir)
        if cached is not None and cached[0] == key:
            return cached
        present = set(os.listdir(day_dir))  # one listing, not a stat per clip
        entries = [e for e in read_index(day_dir, check=False) if str(e.get("file")) in present]
        clips = sorted(day_clips(day_dir, day, entries), key=lambda c: c.start)
        old = self._days.pop(day_dir, None)
        self._kept -= len(old[1]) if old else 0
        self._days[day_dir] = (key, clips)
        self._kept += len(clips)
        while self._kept > self.max_clips and len(self._days) > 1:
            self._kept -= len(self._days.pop(next(iter(self._days)))[1])
        return key, clips


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
