"""Crash recovery: a `.part` left by a writer that is gone becomes a normal clip (up to its last complete
fragment, exact start and token from its metadata, indexed as recovered); an unreadable one is removed;
an agent finalises its camera's leftovers at start while it records."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support.media import decode_errors, video_packets
from tests.support.packets import h264_packets
from tests.test_recordings import T0
from vsnative.agent import Agent, AgentEnv
from vsnative.framers.synthetic import SyntheticFramerConfig
from vsnative.media.boxes import layout, media_config
from vsnative.media.clip import ClipWriter
from vsnative.media.recover import orphan_parts, recover
from vsnative.models import Camera
from vsnative.pipeline import CameraPipeline, FramersConfig
from vsnative.recordings import STALE_PART_SECONDS, RetentionConfig, clip_path, read_index, sweep
from vsnative.streamers.recorder import Mp4RecorderConfig

PACKETS = h264_packets(100, gop=25)
START = T0 + 0.25


def killed_writer(root: Path, frames: int, token: int | None = 9) -> Path:
    """The `.part` a writer killed after `frames` frames leaves behind (its open fragment not written)."""
    writer = ClipWriter(clip_path(root, "cam", START), PACKETS[0], START, token=token)
    for packet in PACKETS[1:frames]:
        writer.write(packet)
    left = writer.part.with_name(writer.part.name + ".copy")
    shutil.copy(writer.part, left)  # what was on disk at the kill
    writer.abandon()
    os.replace(left, writer.part)
    return writer.part


def test_a_part_becomes_a_clip_up_to_its_last_complete_fragment(tmp_path: Path) -> None:
    part = killed_writer(tmp_path, 60)  # two 25-frame fragments complete, the third cut off
    clip = recover(part)
    assert clip is not None
    final = part.with_name(part.name.removesuffix(".part"))
    assert clip.path == final
    assert not part.exists()
    assert decode_errors(final) == ""
    assert len(video_packets(final)) == clip.frames == 50
    assert clip.duration == 2.0
    (entry,) = read_index(final.parent)
    assert (
        entry
        == {
            "file": final.name,
            "start": round(START, 6),
            "duration": 2.0,
            "frames": 50,
            "size": final.stat().st_size,
            "token": 9,
            "recovered": True,
            "init": layout(final).init,  # a recovered clip plays in HLS too (vod.py)
            "mediaEnd": layout(final).media_end,
            "config": media_config(final.read_bytes()[: layout(final).init]),
        }
    )


def test_a_part_with_nothing_readable_is_removed(tmp_path: Path) -> None:
    day = clip_path(tmp_path, "cam", START).parent
    day.mkdir(parents=True)
    garbage = day / "10-00-00.mp4.part"
    garbage.write_bytes(b"\0" * 4096)
    empty = killed_writer(tmp_path, 10)  # killed within its first fragment: the moov is not even out
    assert recover(garbage) is None
    assert recover(empty) is None
    assert not garbage.exists()
    assert not empty.exists()
    assert read_index(day) == []


async def test_an_agent_finalises_its_cameras_leftovers_while_it_records(tmp_path: Path) -> None:
    part = killed_writer(tmp_path, 60)
    garbage = part.with_name("00-00-00.mp4.part")  # listed first: nothing in it is readable
    garbage.write_bytes(b"\0" * 4096)
    assert orphan_parts(tmp_path / "cam") == [garbage, part]
    small = FramersConfig(random=SyntheticFramerConfig(width=160, height=120, fps=10, gopSeconds=0.5))
    pipeline = CameraPipeline(framers=small, streamers=[Mp4RecorderConfig(clipSeconds=1)], alerters=[])
    with ThreadPoolExecutor(2) as demux, ThreadPoolExecutor(2) as io:
        agent = Agent(Camera(id="cam", framerType="random"), pipeline, AgentEnv(tmp_path, demux, io))
        task = asyncio.create_task(agent.run())
        try:
            for _ in range(200):
                if agent.counters.recovered and agent.counters.clips >= 1:
                    break
                await asyncio.sleep(0.05)
        finally:
            agent.stop()
            await asyncio.wait_for(task, 15)
    assert agent.counters.recovered == 1
    assert agent.counters.unrecoverable == 1  # counted (and logged), not silent
    assert not part.exists()
    assert not garbage.exists()
    lines = [
        json.loads(line)
        for day in (tmp_path / "cam").glob("*/index.jsonl")
        for line in day.read_text().splitlines()
    ]
    assert sum(1 for line in lines if line.get("recovered")) == 1


def test_retention_sweeps_a_part_no_writer_came_back_to(tmp_path: Path) -> None:
    stale = killed_writer(tmp_path, 60)
    fresh = clip_path(tmp_path, "cam", START + 6).with_name("10-00-06.mp4.part")
    fresh.write_bytes(b"being written")
    old = time.time() - STALE_PART_SECONDS - 1
    os.utime(stale, (old, old))
    report = sweep(tmp_path, RetentionConfig(maxAgeHours=1, minFreeBytes=0), now=START + 10 * 86400)
    assert report.parts == 1
    assert not stale.exists()
    assert fresh.exists()  # written to within STALE_PART_SECONDS: a clip in progress
