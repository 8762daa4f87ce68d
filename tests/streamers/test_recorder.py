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
from vsnative.media.fanout import GAP, Item
from vsnative.media.packets import StreamInfo
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


async def record(rec: Mp4Recorder, items: Sequence[Item]) -> list[dict[str, object]]:
    """Feed items as the framer thread would (a GAP is what an overflow leaves), then finish."""
    rec.attach(asyncio.get_running_loop())
    for item in items:
        if item is GAP:  # what an overflow of the recorder's queue leaves
            rec._inbox._queue.append(GAP)
            rec._inbox._need_keyframe = True
        else:
            rec.offer(item)
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


async def test_gap_closes_clip_and_next_starts_at_keyframe(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    items: list[Item] = [*PACKETS[:60], GAP, *PACKETS[80:]]
    index = await record(recorder(tmp_path, executor), items)
    assert [e["frames"] for e in index] == [60, 150, 50]  # 0-2.4 s | gap | 4-10 s, 10-12 s
    second = clip_files(tmp_path)[1]
    assert "K" in video_packets(second)[0]["flags"]
    assert index[1]["start"] - index[0]["start"] == pytest.approx(4.0)  # type: ignore[operator]


async def test_reconnect_closes_clip(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    other = StreamInfo(session=2, tracks=PACKETS[0].info.tracks, opened_at=0)
    items: list[Item] = [*PACKETS[:100], *shifted(PACKETS[:100], 9_000_000, info=other)]
    index = await record(recorder(tmp_path, executor), items)
    assert [e["frames"] for e in index] == [100, 100]
    for f in clip_files(tmp_path):
        assert decode_errors(f) == ""


async def test_timestamp_jump_closes_clip(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    # the camera's clock jumps 30 s ahead while the wall clock moves on normally
    items: list[Item] = [*PACKETS[:100], *shifted(PACKETS[100:200], 90_000 * 30)]
    index = await record(recorder(tmp_path, executor, maxGapSeconds=2), items)
    assert [e["frames"] for e in index] == [100, 100]
    # clip start times follow the wall clock, not the camera's jump
    assert index[1]["start"] - index[0]["start"] == pytest.approx(4.0)  # type: ignore[operator]


async def test_finish_closes_the_open_clip(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    rec = recorder(tmp_path, executor)
    rec.attach(asyncio.get_running_loop())
    for packet in PACKETS[:40]:
        rec.offer(packet)
    await rec.finish()
    files = clip_files(tmp_path)
    assert len(files) == 1
    assert not list(tmp_path.rglob("*.part"))
    assert len(video_packets(files[0])) == 40
    assert decode_errors(files[0]) == ""
    assert rec.context.counters.clips == 1


async def test_a_last_clip_of_one_frame_lasts_one_frame(tmp_path: Path, executor: ThreadPoolExecutor) -> None:
    """Stopped just after a keyframe cut a new clip: that clip of one picture lasts one frame interval
    (the clip before measured it), not 0 s (a playlist cannot list a segment of 0 s)."""
    index = await record(recorder(tmp_path, executor, clipSeconds=5), list(PACKETS[:151]))
    assert [e["frames"] for e in index] == [150, 1]
    assert [e["duration"] for e in index] == [6.0, 0.04]


async def test_overflow_drops_backlog_and_leaves_a_gap_between_clips(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    ctx = StreamerContext(Camera(id="cam"), tmp_path, executor, AgentCounters())
    rec = Mp4Recorder(Mp4RecorderConfig(queuePackets=16, clipSeconds=5), ctx)
    rec.attach(asyncio.get_running_loop())
    rec._batch_started = 1e12  # never flush by time: the inbox must overflow
    with patch("vsnative.streamers.recorder.BATCH_PACKETS", 10_000):
        for packet in PACKETS[:100]:
            rec.offer(packet)
    assert rec.dropped > 0
    await rec.finish()
    for f in clip_files(tmp_path):
        assert decode_errors(f) == ""


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


async def test_a_stalled_disk_bounds_what_waits_and_leaves_a_gap_between_clips(tmp_path: Path) -> None:
    """While the mux thread is stuck, at most MAX_PENDING_BATCHES batches wait; later video is dropped
    (counted). Once the disk answers, what waited is written, the gap closes the clip and recording goes on
    from a keyframe: every clip decodes cleanly."""
    disk = StalledDisk()
    ctx = StreamerContext(Camera(id="cam"), tmp_path, disk, AgentCounters())  # type: ignore[arg-type]
    rec = Mp4Recorder(Mp4RecorderConfig(clipSeconds=2), ctx)
    rec.attach(asyncio.get_running_loop())
    with (
        patch("vsnative.streamers.recorder.BATCH_PACKETS", 4),
        patch("vsnative.streamers.recorder.MAX_PENDING_BATCHES", 10),
    ):
        for packet in PACKETS[:200]:  # 50 batches: 10 wait, the rest are dropped
            rec.offer(packet)
        assert len(rec._todo) == 10
        assert rec.dropped == 200 - 4 * 10 - len(rec._inbox)
        disk.recover()
        for packet in PACKETS[200:]:
            rec.offer(packet)
    await rec.finish()
    await asyncio.sleep(0)  # clip events are posted to the loop
    clips = clip_files(tmp_path)
    for f in clips:
        assert decode_errors(f) == ""
    # written: the 40 packets that waited, then all from the recovery on (packet 200 is a keyframe)
    assert sum(len(video_packets(f)) for f in clips) == 40 + 100
    assert rec.dropped == 160
    index = [
        json.loads(line) for f in tmp_path.glob("cam/*/index.jsonl") for line in f.read_text().splitlines()
    ]
    origin = PACKETS[0].wallclock
    spans = sorted((e["start"] - origin, e["start"] - origin + e["duration"]) for e in index)
    assert spans[0][0] == pytest.approx(0, abs=0.01)
    assert all(end <= 1.6 + 0.01 or start >= 8.0 - 0.01 for start, end in spans), spans  # the gap: 1.6-8 s
    assert spans[-1][1] == pytest.approx(12.0, abs=0.05)


async def test_timestamps_going_back_mid_gop_close_the_clip_once_count_the_wait_and_stay_contiguous(
    tmp_path: Path, executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    """A second client joins a shared camera stream: its timestamps go back 5 s in the middle of a GOP.
    The clip closes once; the pictures until the next keyframe can start no clip and are counted; the next
    clip starts where the time went on (not overlapping the last one)."""
    items: list[Item] = [*PACKETS[:110], *shifted(PACKETS[110:], -90_000 * 5)]
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


async def test_a_reconnect_that_joins_mid_gop_loses_nothing(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    other = StreamInfo(session=2, tracks=PACKETS[0].info.tracks, opened_at=0)
    rec = recorder(tmp_path, executor)
    index = await record(rec, [*PACKETS[:100], *shifted(PACKETS[120:200], 9_000_000, info=other)])
    assert [e["frames"] for e in index] == [100, 50]  # the second session from its first keyframe (150)
    assert rec.dropped == 0


async def test_a_burst_after_a_stall_lands_where_it_was_filmed(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    """8 s of video held up (a paused process, a congested link) and then delivered at once: before, the
    burst was stamped with its arrival and re-anchored, so one connection's clips overlapped by 4-6 s."""
    held = [p._replace(wallclock=PACKETS[200].wallclock + 0.001 * i) for i, p in enumerate(PACKETS[0:200])]
    stalled = [*PACKETS[:50], *held[50:200], *PACKETS[200:]]  # packets 50-199 arrive when 200 does
    index = await record(recorder(tmp_path, executor, clipSeconds=2), stalled)
    starts = [e["start"] for e in index]
    first = PACKETS[0].wallclock
    assert starts == pytest.approx([first + 2.0 * i for i in range(6)], abs=1e-6)  # the camera's timeline
    for before, after in itertools.pairwise(index):
        assert after["start"] == pytest.approx(before["start"] + before["duration"], abs=1e-6)  # type: ignore[operator]


async def test_the_cameras_sender_reports_date_the_clips(
    tmp_path: Path, executor: ThreadPoolExecutor
) -> None:
    """With RTCP sender reports (FFmpeg's start_time_realtime), pts 0 is filmed at the camera's word; a
    camera clock an hour off is not believed (arrival instead)."""
    info = StreamInfo(session=1, tracks=PACKETS[0].info.tracks, opened_at=0)
    info.reports.start = PACKETS[0].wallclock - 0.3  # filmed 0.3 s before it arrived
    packets = [p._replace(info=info) for p in PACKETS[:100]]
    index = await record(recorder(tmp_path / "a", executor, clipSeconds=2), packets)
    assert index[0]["start"] == pytest.approx(PACKETS[0].wallclock - 0.3, abs=1e-6)
    wrong = StreamInfo(session=1, tracks=PACKETS[0].info.tracks, opened_at=0)
    wrong.reports.start = PACKETS[0].wallclock - 3600
    packets = [p._replace(info=wrong) for p in PACKETS[:100]]
    index = await record(recorder(tmp_path / "b", executor, clipSeconds=2), packets)
    assert index[0]["start"] == pytest.approx(PACKETS[0].wallclock, abs=1e-6)
