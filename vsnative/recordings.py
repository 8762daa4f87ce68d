"""The recordings folder: clip names (`<cameraId>/<YYYY-MM-DD>/<HH-MM-SS>.mp4`, UTC), day index, retention."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict, Field

from vsnative.media.boxes import layout, media_config
from vsnative.media.clip import PART_SUFFIX, ClipInfo

log = logging.getLogger(__name__)

INDEX_NAME = "index.jsonl"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CLIP = re.compile(r"^(\d{2})-(\d{2})-(\d{2})(?:-(\d+))?\.mp4$")
# a `.part` nobody wrote to for this long has no writer (a clip in progress grows every GOP): one that no
# agent finalised (its camera is not recorded any more, or it could not be read) is retention's, like a clip
STALE_PART_SECONDS = 600.0


class RetentionConfig(BaseModel):
    """When clips are deleted (settings/pipeline.json, `retention`). Oldest clips go first."""

    model_config = ConfigDict(extra="forbid")

    maxAgeHours: float | None = Field(168.0, gt=0)
    maxBytes: int | None = Field(None, gt=0)
    minFreeBytes: int = Field(1_000_000_000, ge=0)


def clip_path(root: Path, camera_id: str, start: float) -> Path:
    """A free name for a clip starting at `start` (epoch s); `-1`, `-2`... when the second is taken."""
    moment = datetime.fromtimestamp(start, UTC)
    day = root / camera_id / moment.strftime("%Y-%m-%d")
    stem = moment.strftime("%H-%M-%S")
    candidate = day / f"{stem}.mp4"
    n = 0
    while candidate.exists() or candidate.with_name(candidate.name + PART_SUFFIX).exists():
        n += 1
        candidate = day / f"{stem}-{n}.mp4"
    return candidate


def clip_start(path: Path) -> datetime | None:
    """The UTC start second encoded in a clip's path, or None for a name that is not ours."""
    match = _CLIP.match(path.name)
    if not match or not _DAY.match(path.parent.name):
        return None
    hour, minute, second = (int(g) for g in match.groups()[:3])
    try:
        return datetime.strptime(path.parent.name, "%Y-%m-%d").replace(
            hour=hour, minute=minute, second=second, tzinfo=UTC
        )
    except ValueError:
        return None


def append_index(clip: ClipInfo, recovered: bool = False) -> None:
    """Record a closed clip's exact start, duration, frames and size in its day's index.jsonl, with the
    fencing token of the lease it was written under (so overlaps can be audited), where its init section
    and fragments end and what media they hold (`init`, `mediaEnd`, `config`: media/boxes.py);
    `recovered` for a clip finalised from the `.part` a writer left (media/recover.py)."""
    entry: dict[str, object] = {
        "file": clip.path.name,
        "start": round(clip.start, 6),
        "duration": round(clip.duration, 6),
        "frames": clip.frames,
        "size": clip.size,
    }
    if clip.token is not None:
        entry["token"] = clip.token
    if recovered:
        entry["recovered"] = True
    try:  # where its init section and fragments lie, and what media they hold, for HLS playback (vod.py)
        parts = layout(clip.path)  # with no read of the file
        with open(clip.path, "rb") as fh:
            config = media_config(fh.read(parts.init))
    except (OSError, ValueError):
        pass  # (the playlist reads it then)
    else:
        entry["init"], entry["mediaEnd"], entry["config"] = parts.init, parts.media_end, config
    line = orjson.dumps(entry)
    with open(clip.path.parent / INDEX_NAME, "ab") as fh:
        fh.write(line + b"\n")


def read_index(day_dir: Path, check: bool = True) -> list[dict[str, object]]:
    """Entries of a day's index whose clip still exists (`check` False: the caller checks); torn or
    unreadable lines are skipped."""
    try:
        raw = (day_dir / INDEX_NAME).read_bytes()
    except FileNotFoundError:
        return []
    entries = []
    for line in raw.splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and (not check or (day_dir / str(entry.get("file"))).exists()):
            entries.append(entry)
    return entries


@dataclass(order=True)
class _Clip:
    start: datetime
    path: Path = field(compare=False)
    size: int = field(compare=False)


def list_clips(root: Path, stale_before: float | None = None) -> list[_Clip]:
    """Every closed clip under root, oldest first; with `stale_before` (epoch s) also the `.part` files
    not written since then (in-progress ones are never listed)."""
    clips = []
    for day in root.glob("*/*"):
        if not _DAY.match(day.name):
            continue
        for path in day.glob("*.mp4*"):
            name = path.name
            if name.endswith(PART_SUFFIX):
                name = name.removesuffix(PART_SUFFIX)
            elif not name.endswith(".mp4"):
                continue
            start = clip_start(path.with_name(name))
            if start is None:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if name != path.name and (stale_before is None or stat.st_mtime >= stale_before):
                continue
            clips.append(_Clip(start, path, stat.st_size))
    clips.sort()
    return clips


@dataclass
class RetentionReport:
    deleted: int = 0
    freed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    forced: dict[str, int] = field(default_factory=dict)  # clips per camera deleted for space, not age
    parts: int = 0  # of the deleted: unfinished clips no writer came back to (`.part`)
    free: int | None = None  # bytes free on the recordings disk after the sweep (None: no folder yet)
    oldest: float | None = None  # start (epoch s) of the oldest clip kept


def sweep(root: Path, config: RetentionConfig, now: float | None = None) -> RetentionReport:
    """Delete clips past max age, then the oldest while over maxBytes or under the free-disk floor.

    Blocking (file system): run it in a worker thread. Never touches a `.part` being written; one nobody
    wrote to for STALE_PART_SECONDS is a clip like the others (counted in `parts`).
    """
    report = RetentionReport()
    if not root.exists():
        return report
    now = time.time() if now is None else now
    clips = list_clips(root, stale_before=time.time() - STALE_PART_SECONDS)
    keep: list[_Clip] = []

    def delete(clip: _Clip, reason: str) -> None:
        try:
            clip.path.unlink()
        except FileNotFoundError:
            return
        report.deleted += 1
        report.freed += clip.size
        if clip.path.name.endswith(PART_SUFFIX):
            report.parts += 1
        report.reasons[reason] = report.reasons.get(reason, 0) + 1
        if reason != "age":
            camera = clip.path.parent.parent.name
            report.forced[camera] = report.forced.get(camera, 0) + 1

    for clip in clips:
        if config.maxAgeHours is not None and clip.start.timestamp() < now - config.maxAgeHours * 3600:
            delete(clip, "age")
        else:
            keep.append(clip)
    if config.maxBytes is not None:
        total = sum(c.size for c in keep)
        while keep and total > config.maxBytes:
            clip = keep.pop(0)
            total -= clip.size
            delete(clip, "bytes")
    while keep and shutil.disk_usage(root).free < config.minFreeBytes:
        delete(keep.pop(0), "disk")
    for day in {c.path.parent for c in clips}:
        _prune_day(day)
    report.free = shutil.disk_usage(root).free
    report.oldest = keep[0].start.timestamp() if keep else None
    if report.deleted:
        log.info("retention deleted %d clips (%d bytes): %s", report.deleted, report.freed, report.reasons)
    return report


def _prune_day(day: Path) -> None:
    """Remove a day folder once it holds no clip (its index goes with it)."""
    try:
        names = os.listdir(day)
    except FileNotFoundError:
        return
    if any(name.endswith((".mp4", PART_SUFFIX)) for name in names):
        return
    for name in names:
        if name == INDEX_NAME:
            (day / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        day.rmdir()
