"""mp4Recorder: clips cut at keyframes, contiguous, decodable; a gap always falls between clips."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from unittest.mock import patch

import pytest

from tests.support.media import decode_errors, probe, video_packets
from tests.support.packets import G711, g711_packets, h264_packets, interleaved, shifted
from vsnative.counters import AgentCounters
from vsnative.media.packets import EncodedPacket, StreamInfo
from vsnative.models import Camera
from vsnative.streamers.base import StreamerContext
from vsnative.streamers.recorder import Mp4Recorder, Mp4RecorderConfig

PACKETS = h264_packets(300)  # 12 s at 25 fps, keyframe every 2 s


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


def recorder(tmp_path: Path, executor: ThreadPoolExecutor, **config: float) -> Mp4Recorder:
    ctx = StreamerContext(Camera(id="cam"), tmp_path, executor, AgentCounters())
    return Mp4Recorder(Mp4RecorderConfig(**config), ctx)


async def record(rec: Mp4Recorder, items: Sequence[EncodedPacket]) -> list[dict[str, object]]:
    """Feed packets as the framer thread would, end the session, then wait for the clips on disk."""
    rec.attach(asyncio.get_running_loop())
    for item in items:
        rec.offer(item)
    rec.end_session()
    await rec.finish()
    await asyncio.sleep(0)  # clip events are posted to the loop
    index = [
        json.loads(line)
        for f in sorted(rec.context.recordings_dir.glob("cam/*/index.jsonl"))
        for line in f.read_text().splitlines()
    ]
    return index


def clip_files(root: Path) -> list[Path]:
    return sorted(root.glob("cam/*/*.mp4"))


async def test_clips_cut_at_first_keyframe_after_target(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    index = await record(recorder(tmp_path, executor, clipSeconds=5), list(PACKETS))
    files = clip_files(tmp_path)
    assert [e["file"] for e in index] == [f.name for f in files]
    # 2 s GOP, 5 s target: each clip runs to the keyframe at 6 s
    assert [e["frames"] for e in index] == [150, 150]
    assert [e["duration"] for e in index] == [6.0, 6.0]
    assert index[1]["start"] - index[0]["start"] == pytest.approx(6.0)  # type: ignore[operator]
    for f in files:
        assert decode_errors(f) == ""
        packets = video_packets(f)
        assert "K" in packets[0]["flags"]
        assert float(packets[0]["pts_time"]) == 0.0
        assert len(packets) == 150
        assert float(probe(f)["format"]["duration"]) == pytest.approx(6.0, abs=0.05)
    assert not list(tmp_path.rglob("*.part"))
    assert files[0].parent.name == "2027-01-15"
    assert files[0].name == "08-00-00.mp4"


async def test_reconnect_closes_clip(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    other = StreamInfo(session=2, tracks=PACKETS[0].info.tracks, opened_at=0)
    items = [*PACKETS[:100], *shifted(PACKETS[:100], 9_000_000, info=other)]
    index = await record(recorder(tmp_path, executor), items)
    assert [e["frames"] for e in index] == [100, 100]
    for f in clip_files(tmp_path):
        assert decode_errors(f) == ""


async def test_timestamp_jump_closes_clip(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    # the camera's clock jumps 30 s ahead while the wall clock moves on normally
    items = [*PACKETS[:100], *shifted(PACKETS[100:200], 90_000 * 30)]
    index = await record(recorder(tmp_path, executor, maxGapSeconds=2), items)
    assert [e["frames"] for e in index] == [100, 100]
    # clip start times follow the wall clock, not the camera's jump
    assert index[1]["start"] - index[0]["start"] == pytest.approx(4.0)  # type: ignore[operator]


async def test_end_of_session_closes_the_open_clip(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    rec = recorder(tmp_path, executor)
    rec.attach(asyncio.get_running_loop())
    for packet in PACKETS[:40]:
        rec.offer(packet)
    rec.end_session()
    await rec.finish()
    await asyncio.sleep(0)
    files = clip_files(tmp_path)
    assert len(files) == 1
    assert not list(tmp_path.rglob("*.part"))
    assert len(video_packets(files[0])) == 40
    assert decode_errors(files[0]) == ""
    assert rec.context.counters.clips == 1


class StalledDisk:
    """An executor whose jobs wait while `stalled` (a disk that stops answering), then run in order."""

    def __init__(self) -> None:
        self.stalled = True
        self.jobs: list[tuple[Future[None], Callable[[], None]]] = []

    def submit(self, fn: Callable[[], None]) -> Future[None]:
        future: Future[None] = Future()
        if self.stalled:
            self.jobs.append((future, fn))
        else:
            fn()
            future.set_result(None)
        return future

    def recover(self) -> None:
        self.stalled = False
        for future, fn in self.jobs:
            fn()
            future.set_result(None)


async def test_the_framer_thread_never_touches_the_disk(tmp_path: Path) -> None:
    """Clips are muxed as packets come, but nothing reaches the disk until the writer thread runs."""
    disk = StalledDisk()
    ctx = StreamerContext(Camera(id="cam"), tmp_path, disk, AgentCounters())  # type: ignore[arg-type]
    rec = Mp4Recorder(Mp4RecorderConfig(clipSeconds=2), ctx)
    rec.attach(asyncio.get_running_loop())
    for packet in PACKETS[:120]:
        rec.offer(packet)
    assert not list(tmp_path.rglob("*")), "the framer thread wrote to the disk"
    assert rec.files.queued > 0
    disk.recover()
    rec.end_session()
    await rec.finish()
    assert sum(len(video_packets(f)) for f in clip_files(tmp_path)) == 120


async def test_a_stalled_disk_bounds_what_waits_and_leaves_a_gap_between_clips(tmp_path: Path) -> None:
    """While the writer thread is stuck, clip bytes wait up to MAX_QUEUED_BYTES; later video is dropped
    (counted) and the open clip closes. Once the disk answers and half of that is written, recording goes
    on from a keyframe: every clip decodes cleanly, none spans the gap, every picture is in a clip or
    counted."""
    disk = StalledDisk()
    ctx = StreamerContext(Camera(id="cam"), tmp_path, disk, AgentCounters())  # type: ignore[arg-type]
    rec = Mp4Recorder(Mp4RecorderConfig(clipSeconds=2), ctx)
    rec.attach(asyncio.get_running_loop())
    bound = 20_000  # a GOP of these 320x240 packets is about 15 KB
    with patch("vsnative.streamers.recorder.MAX_QUEUED_BYTES", bound):
        for packet in PACKETS[:200]:
            rec.offer(packet)
            assert rec.files.queued < bound + 20_000  # at most a fragment and a trailer past the bound
        stalled_drops = rec.dropped
        assert stalled_drops > 0
        disk.recover()
        for packet in PACKETS[200:]:
            rec.offer(packet)
    rec.end_session()
    await rec.finish()
    await asyncio.sleep(0)  # clip events are posted to the loop
    clips = clip_files(tmp_path)
    for f in clips:
        assert decode_errors(f) == ""
    recorded = sum(len(video_packets(f)) for f in clips)
    assert recorded + rec.dropped == len(PACKETS)
    assert rec.dropped >= stalled_drops
    index = [
        json.loads(line) for f in tmp_path.glob("cam/*/index.jsonl") for line in f.read_text().splitlines()
    ]
    origin = PACKETS[0].wallclock
    spans = sorted((e["start"] - origin, e["start"] - origin + e["duration"]) for e in index)
    assert spans[0][0] == pytest.approx(0, abs=0.01)
    assert any(b[0] - a[1] > 1.0 for a, b in itertools.pairwise(spans)), spans  # the gap
    assert spans[-1][1] == pytest.approx(12.0, abs=0.05)


async def test_timestamps_going_back_mid_gop_close_the_clip_once_count_the_wait_and_stay_contiguous(
    tmp_path: Path, executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    """A second client joins a shared camera stream: its timestamps go back 5 s in the middle of a GOP.
    The clip closes once; the pictures until the next keyframe can start no clip and are counted; the next
    clip starts where the time went on (not overlapping the last one)."""
    items = [*PACKETS[:110], *shifted(PACKETS[110:], -90_000 * 5)]
    rec = recorder(tmp_path, executor, clipSeconds=5)
    index = await record(rec, items)
    assert [e["frames"] for e in index] == [110, 150]  # frames 0-109 | 110-149 wait for a keyframe | 150-299
    assert rec.dropped == 40
    jumps = [r for r in caplog.records if "timestamp jump" in r.getMessage()]
    assert len(jumps) == 1
    assert index[1]["start"] == pytest.approx(index[0]["start"] + 110 / 25 + 40 / 25)  # type: ignore[operator]
    for f in clip_files(tmp_path):
        assert decode_errors(f) == ""


async def test_b_frames_are_recorded_in_decode_order_with_their_composition_offsets(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    packets = h264_packets(200, bframes=2)
    assert any(p.pts != p.dts for p in packets)
    index = await record(recorder(tmp_path, executor, clipSeconds=5), list(packets))
    assert sum(int(str(e["frames"])) for e in index) == 200
    for f in clip_files(tmp_path):
        assert decode_errors(f) == ""
        shown = video_packets(f)
        dts = [float(p["dts_time"]) for p in shown]
        pts = [float(p["pts_time"]) for p in shown]
        assert all(b > a for a, b in itertools.pairwise(dts)), "decode order"
        assert all(p >= d for p, d in zip(pts, dts, strict=True))
        assert any(b < a for a, b in itertools.pairwise(pts)), "no picture shown out of decode order"
        steps = sorted(round((b - a) * 25, 3) for a, b in zip(sorted(pts), sorted(pts)[1:], strict=False))
        assert set(steps) == {1.0}, "displayed pictures are one frame apart, none twice, none missing"


async def test_g711_audio_is_kept_as_aac_with_no_hole_at_the_cuts(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    """A camera's G.711 µ-law (128 ms packets, arriving with the video of their time) ends up as AAC;
    each clip takes the audio of its own time, so joined end to end the sound has no hole at the cuts."""
    video = h264_packets(300, audio=G711)
    audio = g711_packets(video[0].info, 12.0)
    index = await record(recorder(tmp_path, executor, clipSeconds=5), interleaved(video, audio))
    assert [e["frames"] for e in index] == [150, 150]
    spans = []
    for entry, f in zip(index, clip_files(tmp_path), strict=True):
        assert decode_errors(f) == ""
        streams = {s["codec_type"]: s for s in probe(f)["streams"]}
        assert streams["audio"]["codec_name"] == "aac"
        assert streams["audio"]["channels"] == 1
        start = entry["start"] + float(streams["audio"]["start_time"])  # type: ignore[operator]
        spans.append((start, start + float(streams["audio"]["duration"])))
    assert spans[1][0] == pytest.approx(spans[0][1], abs=0.002), spans
    assert spans[0][0] == pytest.approx(index[0]["start"], abs=0.13)  # its first packet may start earlier


async def test_pictures_before_a_connections_first_keyframe_are_no_loss(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    """A camera joined in the middle of a GOP: recording starts at the first keyframe; nothing was lost."""
    rec = recorder(tmp_path, executor)
    index = await record(rec, PACKETS[20:150])
    assert [e["frames"] for e in index] == [100]
    assert rec.dropped == 0
