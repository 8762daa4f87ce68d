"""Fencing on the write path: past its lease's deadline an agent writes not one more byte, opens no clip and
publishes no index line; proven again, it records on in a new clip; every index line names its token."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pytest

from tests.support.packets import h264_packets
from vsnative.agent import Agent, AgentEnv
from vsnative.control.fence import Fence
from vsnative.framers.synthetic import SyntheticFramerConfig
from vsnative.media.clip import ClipWriter
from vsnative.models import Camera
from vsnative.pipeline import CameraPipeline, FramersConfig
from vsnative.streamers.recorder import Mp4RecorderConfig

SMALL = FramersConfig(random=SyntheticFramerConfig(width=160, height=120, fps=10, gopSeconds=0.5))


def test_the_deadline_is_the_send_time_plus_the_ttl_less_the_margin() -> None:
    sent = time.monotonic()
    fence = Fence(7, ttl=10.0, sent_at=sent)
    assert fence.deadline == pytest.approx(sent + 8.0)  # margin: a fifth of the TTL
    assert fence.valid()
    fence.renewed(sent - 5)  # an older renewal's answer arriving late never moves it back
    assert fence.deadline == pytest.approx(sent + 8.0)
    fence.renewed(sent + 1)
    assert fence.deadline == pytest.approx(sent + 9.0)
    fence.deadline = time.monotonic() - 0.001  # a pause longer than the TTL
    assert not fence.valid()
    fence.renewed(time.monotonic())
    assert fence.valid()
    fence.revoke()
    assert not fence.valid()
    assert fence.remaining() == 0.0


def test_a_fenced_clip_gets_not_one_more_byte_and_keeps_its_fragments(tmp_path: Path) -> None:
    packets = h264_packets(100, gop=25)
    writer = ClipWriter(tmp_path / "c.mp4", packets[0], 1e9)
    for packet in packets[1:60]:  # two fragments complete, the third open
        writer.write(packet)
    size = writer.part.stat().st_size
    writer.fence_off()
    assert writer.part.stat().st_size == size  # no buffered fragment, no trailer
    assert not (tmp_path / "c.mp4").exists()
    with av.open(str(writer.part)) as clip:  # readable up to its last complete fragment
        frames = sum(1 for _ in clip.demux(video=0) if _.size)
    assert frames == 50


@pytest.fixture
def env(tmp_path: Path) -> Iterator[AgentEnv]:
    with ThreadPoolExecutor(2) as demux, ThreadPoolExecutor(2) as io, ThreadPoolExecutor(1) as mux:
        yield AgentEnv(tmp_path, demux, io, mux_executor=mux, heartbeat_seconds=60)


def index_lines(root: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for f in sorted(root.glob("cam/*/index.jsonl"))
        for line in f.read_text().splitlines()
    ]


async def until(check: object, seconds: float, what: str) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out: {what}")


def recording(env: AgentEnv, token: int) -> tuple[Fence, Agent, asyncio.Task[None]]:
    """An agent recording 1 s clips of a synthetic camera under a fresh lease `token`."""
    fence = Fence(token, ttl=60.0, sent_at=time.monotonic())
    pipeline = CameraPipeline(framers=SMALL, streamers=[Mp4RecorderConfig(clipSeconds=1)], alerters=[])
    agent = Agent(Camera(id="cam", framerType="random"), pipeline, env, fence=fence)
    return fence, agent, asyncio.create_task(agent.run())


async def test_past_the_deadline_nothing_is_written_and_recording_resumes_once_proven(
    env: AgentEnv, tmp_path: Path
) -> None:
    fence, agent, task = recording(env, 42)
    try:
        await until(lambda: len(index_lines(tmp_path)) >= 2, 15, "clips")
        assert {line["token"] for line in index_lines(tmp_path)} == {42}
        fence.deadline = time.monotonic()  # the process slept past its lease (SIGSTOP, a VM freeze)
        await until(lambda: agent.losses["fenced"] > 20, 10, "packets fenced")
        await asyncio.sleep(1.0)  # whatever was queued for the mux thread has been looked at
        written = {p: p.stat().st_size for p in tmp_path.glob("cam/*/*") if p.is_file()}
        clips = len(index_lines(tmp_path))
        await asyncio.sleep(2.0)
        assert {p: p.stat().st_size for p in tmp_path.glob("cam/*/*") if p.is_file()} == written
        assert len(index_lines(tmp_path)) == clips  # no index line, no clip opened, not one byte
        assert agent.losses["recorder"] == 0  # not written is not lost: counted as fenced
        fence.renewed(time.monotonic())  # nobody took the camera: the renewal succeeds
        await until(lambda: len(index_lines(tmp_path)) >= clips + 2, 15, "recording to resume")
        assert {line["token"] for line in index_lines(tmp_path)} == {42}
    finally:
        agent.stop()
        await asyncio.wait_for(task, 15)
    parts = list(tmp_path.glob("cam/*/*.part"))
    assert len(parts) <= 1  # the clip cut off by the fence, left for the camera's next owner


async def test_a_revoked_lease_stops_writing_at_once(env: AgentEnv, tmp_path: Path) -> None:
    fence, agent, task = recording(env, 3)
    try:
        await until(lambda: len(index_lines(tmp_path)) >= 1, 15, "a clip")
        fence.revoke()
        agent.stop()  # the manager stops it: its last clip is not closed under a lost lease
        await asyncio.wait_for(task, 15)
    finally:
        agent.stop()
    clips = index_lines(tmp_path)
    assert all(line["token"] == 3 for line in clips)
    assert list(tmp_path.glob("cam/*/*.part")), "the clip in progress stays .part"
