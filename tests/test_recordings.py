"""Recordings layout and retention: oldest first, never the clip being written."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vsnative.clips import parse_time
from vsnative.media.clip import ClipInfo
from vsnative.recordings import RetentionConfig, append_index, clip_path, clip_start, read_index, sweep

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC).timestamp()


def make_clip(root: Path, camera: str, start: float, size: int = 1000) -> Path:
    path = clip_path(root, camera, start)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    append_index(ClipInfo(path, start, 6.0, 150, size))
    return path


def test_layout_is_camera_day_time_utc(tmp_path: Path) -> None:
    path = make_clip(tmp_path, "cam", T0 + 3723.5)
    assert path.relative_to(tmp_path).as_posix() == "cam/2026-11-20/11-02-03.mp4"
    assert clip_start(path) == datetime(2026, 11, 20, 11, 2, 3, tzinfo=UTC)
    assert read_index(path.parent) == [
        {"file": "11-02-03.mp4", "start": T0 + 3723.5, "duration": 6.0, "frames": 150, "size": 1000}
    ]


def test_same_second_gets_a_suffix(tmp_path: Path) -> None:
    first = make_clip(tmp_path, "cam", T0)
    second = make_clip(tmp_path, "cam", T0 + 0.4)
    assert (first.name, second.name) == ("10-00-00.mp4", "10-00-00-1.mp4")
    assert clip_start(second) == clip_start(first)


def test_torn_index_line_is_skipped(tmp_path: Path) -> None:
    path = make_clip(tmp_path, "cam", T0)
    with open(path.parent / "index.jsonl", "ab") as fh:
        fh.write(b'{"file": "10-00-0')  # a crash mid-append
    assert [e["file"] for e in read_index(path.parent)] == ["10-00-00.mp4"]


def test_age_limit_deletes_old_clips_and_empty_days(tmp_path: Path) -> None:
    old = make_clip(tmp_path, "cam", T0 - 3 * 86400)
    new = make_clip(tmp_path, "cam", T0)
    report = sweep(tmp_path, RetentionConfig(maxAgeHours=48, minFreeBytes=0), now=T0 + 60)
    assert report.deleted == 1
    assert report.reasons == {"age": 1}
    assert not old.exists()
    assert not old.parent.exists()
    assert new.exists()


def test_byte_limit_deletes_oldest_across_cameras(tmp_path: Path) -> None:
    clips = [make_clip(tmp_path, f"cam{i % 2}", T0 + i * 6) for i in range(10)]
    sweep(tmp_path, RetentionConfig(maxAgeHours=None, maxBytes=4500, minFreeBytes=0), now=T0)
    assert [c.exists() for c in clips] == [False] * 6 + [True] * 4


def test_clip_being_written_is_never_deleted(tmp_path: Path) -> None:
    done = make_clip(tmp_path, "cam", T0 - 10 * 86400)
    writing = done.with_name("10-00-06.mp4.part")
    writing.write_bytes(b"y" * 5000)  # its name is 10 days old, but it is being written (its mtime: now)
    sweep(tmp_path, RetentionConfig(maxAgeHours=1, maxBytes=1, minFreeBytes=0), now=T0)
    assert not done.exists()
    assert writing.exists()


def test_free_disk_floor_deletes_until_satisfied(tmp_path: Path) -> None:
    clips = [make_clip(tmp_path, "cam", T0 + i * 6) for i in range(3)]
    free = shutil.disk_usage(tmp_path).free
    report = sweep(tmp_path, RetentionConfig(maxAgeHours=None, minFreeBytes=free * 10), now=T0)
    assert report.reasons == {"disk": 3}  # the floor cannot be met: everything old goes, nothing else
    assert not any(c.exists() for c in clips)


@pytest.mark.parametrize("name", ["notes.mp4", "99-99-99.mp4"])
def test_foreign_files_are_left_alone(tmp_path: Path, name: str) -> None:
    day = tmp_path / "cam" / "2020-01-01"
    day.mkdir(parents=True)
    (day / name).write_bytes(b"z")
    sweep(tmp_path, RetentionConfig(maxAgeHours=1, minFreeBytes=0), now=T0)
    assert (day / name).exists()


@pytest.mark.parametrize("text", ["4.87e14", "-1", "nan", "inf", "1e400"])
def test_times_outside_the_calendar_are_refused_not_a_server_error(text: str) -> None:
    """schemathesis found GET /clips?start=487358990000000 answering 500 (year 15443913 out of range)."""
    with pytest.raises(ValueError, match="between 1970 and 9999"):
        parse_time(text)
    assert parse_time("2026-12-01T10:00:00") == parse_time("1796119200")
