"""HLS over the recorded clips: where a clip's init section and fragments lie (media/boxes.py), and the
playlist of a range (vod.py): one map and one byte range per clip, exact start times, discontinuities,
VOD or EVENT, clips gone or unreadable left out; FFmpeg reads it whole."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest

from tests.support.media import copy_quietly, decode_errors, ffmpeg, video_packets
from vsnative.clips import LATEST, ClipIndex
from vsnative.media.boxes import layout, timescales
from vsnative.media.clip import MP4_OPTIONS, ClipInfo
from vsnative.recordings import INDEX_NAME, append_index
from vsnative.vod import Playlists, timeline_segment

T0 = datetime(2026, 11, 30, 23, 59, 50, 250_000, tzinfo=UTC).timestamp()  # a day ends inside the range


def clip_file(path: Path, seconds: int = 4, size: str = "320x240") -> Path:
    """A clip as the recorder writes it: fragmented MP4 with its moov before the first fragment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg(
        [
            *("-f", "lavfi", "-i", f"testsrc=s={size}:r=25:d={seconds}"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "0"),
            *("-movflags", MP4_OPTIONS["movflags"], "-f", "mp4", str(path)),
        ]
    )
    return path


def record(root: Path, start: float, seconds: int = 4) -> Path:
    moment = datetime.fromtimestamp(start, UTC)
    path = root / "cam" / moment.strftime("%Y-%m-%d") / (moment.strftime("%H-%M-%S") + ".mp4")
    clip_file(path, seconds)
    append_index(ClipInfo(path, start, float(seconds), seconds * 25, path.stat().st_size))
    return path


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    """Three contiguous 4 s clips across midnight, a 10 s gap, then one more. (Clips of another picture
    size play through the playlist too, each with its own map; `ffmpeg -c copy` into one MP4 cannot hold
    two sizes, so they are not mixed here.)"""
    root = tmp_path / "recordings"
    for i in range(3):
        record(root, T0 + 4 * i)
    record(root, T0 + 22)
    return root


def test_a_clips_layout_is_read_from_its_box_headers(tmp_path: Path) -> None:
    path = clip_file(tmp_path / "clip.mp4")
    parts = layout(path)
    data = path.read_bytes()
    assert data[4:8] == b"ftyp"
    assert data[parts.init + 4 : parts.init + 8] == b"moof"  # the first fragment follows the init
    assert data[parts.media_end + 4 : parts.media_end + 8] == b"mfra"  # FFmpeg's index is left out
    flat = tmp_path / "flat.mp4"  # an MP4 as a camera's SD card holds it: one moov, at the end
    ffmpeg(["-f", "lavfi", "-i", "testsrc=s=64x64:r=5:d=1", "-c:v", "libx264", str(flat)])
    with pytest.raises(ValueError, match="no fragments"):
        layout(flat)
    with pytest.raises(ValueError, match="a fragment before the moov"):
        layout(_moof_first(tmp_path))
    (tmp_path / "junk.mp4").write_bytes(b"\x00\x00\x00\x02junk")
    with pytest.raises(ValueError, match="a box of 2 bytes"):
        layout(tmp_path / "junk.mp4")


def _moof_first(tmp_path: Path) -> Path:
    path = tmp_path / "moof-first.mp4"
    path.write_bytes(b"\x00\x00\x00\x10moof" + b"\x00" * 8 + b"\x00\x00\x00\x08mdat")
    return path


def test_the_index_says_where_each_clip_lies(recordings: Path) -> None:
    day = next(p for p in sorted((recordings / "cam").iterdir()))
    line = (day / INDEX_NAME).read_text().splitlines()[0]
    clip = ClipIndex(recordings).between("cam", T0, T0 + 1)[0]
    parts = layout(clip.path)
    assert (clip.init, clip.media_end) == (parts.init, parts.media_end)
    assert '"init":' in line


def lines(text: str, prefix: str) -> list[str]:
    return [line.removeprefix(prefix) for line in text.splitlines() if line.startswith(prefix)]


def test_the_playlist_lists_each_clip_with_its_start_and_its_place_on_one_timeline(
    recordings: Path,
) -> None:
    playlists = Playlists(ClipIndex(recordings))
    text, listed = playlists.build("cam", T0 - 60, T0 + 60, "access_token=x", now=T0 + 3600)
    assert listed == 4
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n")
    assert "#EXT-X-PLAYLIST-TYPE:VOD\n" in text
    assert text.endswith("#EXT-X-ENDLIST\n")
    assert lines(text, "#EXT-X-PROGRAM-DATE-TIME:") == [
        "2026-11-30T23:59:50.250Z",
        "2026-11-30T23:59:54.250Z",
        "2026-11-30T23:59:58.250Z",  # (its file lies in the day it started)
        "2026-12-01T00:00:12.250Z",  # after the gap
    ]
    # one timeline: a discontinuity at the gap only (across midnight the clips are contiguous)
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert text.split("#EXT-X-PROGRAM-DATE-TIME")[3].endswith("#EXT-X-DISCONTINUITY\n")
    clips = ClipIndex(recordings).between("cam", T0 - 60, T0 + 60)
    # contiguous clips of the same media share the first one's init section; after the gap, its own
    maps = lines(text, "#EXT-X-MAP:")
    assert maps == [
        f'URI="clips/{clip.day}/{clip.name}?access_token=x",BYTERANGE="{layout(clip.path).init}@0"'
        for clip in (clips[0], clips[3])
    ]
    assert len({clip.config for clip in clips}) == 1  # one encoder's settings: one media
    segments = [line for line in text.splitlines() if line.startswith("vod/")]
    for i, (clip, segment) in enumerate(zip(clips, segments, strict=True)):
        assert segment == f"vod/{i * 4_000_000}/{clip.day}/{clip.name}?access_token=x"  # 4 s clips
    assert lines(text, "#EXTINF:") == ["4.000,"] * 4
    assert "#EXT-X-BYTERANGE" not in text  # a segment is the clip's fragments, served whole


def test_a_range_reaching_now_is_an_event_playlist_and_a_range_selects(recordings: Path) -> None:
    playlists = Playlists(ClipIndex(recordings))
    text, listed = playlists.build("cam", T0 + 5, T0 + 9, now=T0 + 10)
    assert listed == 2  # the clips overlapping the range
    assert "#EXT-X-PLAYLIST-TYPE:EVENT\n" in text
    assert "#EXT-X-ENDLIST" not in text
    ended, _ = playlists.build("cam", T0 + 5, T0 + 9, now=T0 + 10, may_grow=False)  # an excluded camera
    assert ended.endswith("#EXT-X-ENDLIST\n")
    assert playlists.build("cam", T0 + 100, T0 + 200)[1] == 0
    assert playlists.build("nobody", T0, T0 + 60)[1] == 0


def test_clips_deleted_or_unreadable_are_left_out_and_old_indexes_are_read(
    recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = ClipIndex(recordings)
    playlists = Playlists(index)
    assert playlists.build("cam", T0 - 60, T0 + 60)[1] == 4
    first, second, *_ = index.between("cam", T0 - 60, T0 + 60)
    first.path.unlink()  # retention deleted it: the day changed
    day = second.path.parent
    lines_of_day = (day / INDEX_NAME).read_text().splitlines()
    (day / INDEX_NAME).write_text(  # an index written before `init` was recorded
        "".join(line.split(',"init"')[0] + "}\n" for line in lines_of_day)
    )
    second.path.write_bytes(b"\x00\x00\x00\x02junk")  # and a clip no longer readable
    with caplog.at_level(logging.WARNING, logger="vsnative.vod"):
        text, listed = playlists.build("cam", T0 - 60, T0 + 60)
        playlists.build("cam", T0 - 30, T0 + 60)  # asked again: counted once, said once
    assert listed == 2
    assert first.path.name not in text
    assert second.path.name not in text
    assert playlists.unreadable == 1
    said = [r.getMessage() for r in caplog.records if second.path.name in r.getMessage()]
    assert len(said) == 1, said


def served_as_files(recordings: Path, text: str) -> Path:
    """The playlist and what its URIs name, as files, as the API serves them: the init sections from the
    clips (`clips/` -> the camera's folder) and each media segment as `timeline_segment` makes it, in a
    file named as its URI (`vod/<µs>/<day>/<file>`)."""
    camera = recordings / "cam"
    (camera / "clips").symlink_to(camera)
    for uri in (line for line in text.splitlines() if line.startswith("vod/")):
        _, at, day, name = uri.split("/")
        segment = camera / uri
        segment.parent.mkdir(parents=True, exist_ok=True)
        segment.write_bytes(timeline_segment(camera / day / name, int(at)))
    playlist = camera / "vod.m3u8"
    playlist.write_text(text)
    return playlist


def test_ffmpeg_reads_the_playlist_whole_on_one_timeline(recordings: Path, tmp_path: Path) -> None:
    text, _ = Playlists(ClipIndex(recordings)).build("cam", T0 - 60, T0 + 60)
    playlist = served_as_files(recordings, text)
    out = tmp_path / "played.mp4"
    copy_quietly(str(playlist), out)
    packets = video_packets(out)
    assert len(packets) == 4 * 4 * 25  # every frame of the four clips
    times = [float(p["pts_time"]) for p in packets]
    assert times == sorted(times)  # one timeline: 0 to 16 s, the gap skipped
    assert times[0] == 0.0
    assert abs(times[-1] - (16 - 1 / 25)) < 0.002, times[-1]
    assert decode_errors(out) == ""
    with av.open(str(out)) as played:
        assert played.streams.video[0].codec_context.width == 320


def test_a_segment_is_the_clips_fragments_with_their_decode_times_moved(recordings: Path) -> None:
    clip = ClipIndex(recordings).between("cam", T0 - 60, T0 + 60)[1]
    parts = layout(clip.path)
    data = clip.path.read_bytes()
    moved = timeline_segment(clip.path, 4_000_000)
    assert len(moved) == parts.media_end - parts.init
    differing = [i for i, (a, b) in enumerate(zip(moved, data[parts.init :], strict=False)) if a != b]
    assert differing  # the tfdt of each fragment, nothing else
    assert max(differing) - min(differing) < len(moved)
    assert timeline_segment(clip.path, 0) == data[parts.init : parts.media_end]
    assert timescales(data[: parts.init]) == {1: 12800}  # libx264 at 25 fps, as FFmpeg's mp4 muxer sets it


def test_seven_days_answer_from_the_days_kept(tmp_path: Path) -> None:
    """The shape of bench/vod.py, small: whole days are rendered once, then joined."""
    root = tmp_path / "recordings"
    day_dir = root / "cam" / "2026-11-29"
    day_dir.mkdir(parents=True)
    base = datetime(2026, 11, 29, tzinfo=UTC).timestamp()
    entries = []
    for i in range(2000):
        name = time.strftime("%H-%M-%S", time.gmtime(base + 5 * i)) + ".mp4"
        (day_dir / name).touch()
        fields = f'"start":{base + 5 * i},"duration":5.0,"frames":125,"size":9,"init":8,"mediaEnd":9'
        entries.append(f'{{"file":"{name}",{fields}}}')
    (day_dir / INDEX_NAME).write_text("\n".join(entries) + "\n")
    playlists = Playlists(ClipIndex(root))
    first, listed = playlists.build("cam", base - 86_400, base + 86_400 * 2, now=base + 86_400 * 10)
    assert listed == 2000
    again, _ = playlists.build("cam", base - 86_400, base + 86_400 * 2, now=base + 86_400 * 10)
    assert again == first
    (day_dir / entries[0].split('"')[3]).unlink()
    assert playlists.build("cam", base - 86_400, base + 86_400 * 2)[1] == 1999  # the day changed: read again


def test_a_range_of_any_length_reads_only_the_days_there_are(recordings: Path) -> None:
    """1970 to 9999 (what start/end accept): the days there are, from one listing of the camera's folder;
    walking the calendar, 2.9 million days, a fuzzed clip listing up to the year 3467 took 10 s."""
    index = ClipIndex(recordings)
    every = index.between("cam", 0, LATEST)
    assert every == index.between("cam", T0 - 60, T0 + 60)
    assert len(every) == 4
    assert [day.path.name for day, _ in index.days("cam", 0, LATEST)] == ["2026-11-30", "2026-12-01"]
    assert index.between("nobody", 0, LATEST) == []


def test_a_change_of_media_without_a_gap_is_a_discontinuity_with_its_own_map(tmp_path: Path) -> None:
    """A camera reconfigured (another picture size) while it streams: the next clip follows at once, but
    cannot share the init section before it."""
    root = tmp_path / "recordings"
    record(root, T0)
    moment = datetime.fromtimestamp(T0 + 4, UTC)
    path = root / "cam" / moment.strftime("%Y-%m-%d") / (moment.strftime("%H-%M-%S") + ".mp4")
    clip_file(path, 4, "160x120")
    append_index(ClipInfo(path, T0 + 4, 4.0, 100, path.stat().st_size))
    record(root, T0 + 8)  # and back
    text, listed = Playlists(ClipIndex(root)).build("cam", T0 - 60, T0 + 60, now=T0 + 3600)
    assert listed == 3
    assert text.count("#EXT-X-DISCONTINUITY\n") == 2
    assert len(lines(text, "#EXT-X-MAP:")) == 3
    assert "vod/8000000/" in text  # one timeline still
