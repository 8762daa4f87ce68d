"""One failing part cannot stop recording: a detector, live view's packet intake and an alerter that
raise are marked failed with their reason, logged with the traceback, restarted after a backoff, and
come back; clips keep coming all along. A model that cannot work disables its detector, with a reason."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.alerters.test_bus import alert
from tests.support.onnx_models import not_a_detector_model, red_square_model
from vsnative.agent import Agent, AgentEnv, AgentState
from vsnative.alerters.base import Alert, Alerter
from vsnative.alerters.bus import AlertBus, AlertsConfig
from vsnative.alerters.snapshot import SnapshotAlerter, SnapshotConfig
from vsnative.detectors.motion import MotionDetector
from vsnative.framers.synthetic import SyntheticFramerConfig
from vsnative.media.gop import GopCache
from vsnative.models import Camera
from vsnative.parts import Part, PartState, ThreadGuard, guarded
from vsnative.pipeline import CameraPipeline, FramersConfig
from vsnative.streamers.detect import DetectorStreamerConfig
from vsnative.streamers.recorder import Mp4RecorderConfig
from vsnative.streamers.webrtc import WebRtcConfig

SMALL = FramersConfig(random=SyntheticFramerConfig(width=160, height=120, fps=10, gopSeconds=0.5))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[AgentEnv]:
    with ThreadPoolExecutor(2) as demux, ThreadPoolExecutor(2) as io, ThreadPoolExecutor(1) as detect:
        yield AgentEnv(
            tmp_path,
            demux,
            io,
            detect_executor=detect,
            heartbeat_seconds=60,
            part_backoff_initial=0.3,
            part_backoff_cap=0.6,
        )


def part(agent: Agent, name: str) -> Part:
    return next(p for p in agent.parts if p.name == name)


async def until(check: Any, seconds: float, what: str) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out: {what}")


def failing_first(times: int, real: Any) -> Any:
    """A method that raises RuntimeError its first `times` calls, then does what `real` does."""
    calls = {"n": 0}

    def method(self: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise RuntimeError(f"boom {calls['n']}")
        return real(self, *args)

    return method


async def test_a_detector_that_raises_is_restarted_and_recording_goes_on(
    env: AgentEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(MotionDetector, "detect", failing_first(2, MotionDetector.detect))
    pipeline = CameraPipeline(
        framers=SMALL,
        streamers=[
            Mp4RecorderConfig(clipSeconds=1),
            DetectorStreamerConfig.model_validate({"detector": {"type": "motion"}, "fps": 5}),
        ],
        alerters=[],
    )
    agent = Agent(Camera(id="cam", framerType="random"), pipeline, env)
    task = asyncio.create_task(agent.run())
    try:
        detector = part(agent, "detector")
        await until(lambda: detector.failures >= 1, 10, "the detector to fail")
        assert detector.state == PartState.FAILED
        assert detector.reason == "RuntimeError: boom 1"
        shown = next(p for p in agent.snapshot()["parts"] if p["name"] == "detector")
        assert shown["failures"] == 1
        assert shown["lastFailure"] == "RuntimeError: boom 1"
        await until(lambda: detector.failures == 2 and str(detector.state) == "running", 10, "it comes back")
        clips = agent.counters.clips
        await until(lambda: agent.counters.clips >= clips + 2, 10, "clips to keep coming")
        assert agent.state == AgentState.RUNNING
        assert not task.done()
    finally:
        agent.stop()
        await asyncio.wait_for(task, 10)
    failures = [
        r for r in caplog.records if r.name == "vsnative.parts" and "detector failed" in r.getMessage()
    ]
    assert len(failures) == 2
    assert all(r.exc_info for r in failures), "each failure is logged with its traceback"
    # and one health event for the spell (two failures in a row), not one per failure
    said = [r for r in caplog.records if "detector_failed" in r.getMessage()]
    assert len(said) == 1
    assert "RuntimeError: boom" in said[0].getMessage()


async def test_live_views_packet_intake_that_raises_in_the_framer_thread_stays_in_it(
    env: AgentEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GopCache, "add", failing_first(1, GopCache.add))
    pipeline = CameraPipeline(
        framers=SMALL, streamers=[Mp4RecorderConfig(clipSeconds=1), WebRtcConfig()], alerters=[]
    )
    agent = Agent(Camera(id="cam", framerType="random"), pipeline, env)
    task = asyncio.create_task(agent.run())
    try:
        live = part(agent, "webrtc")
        await until(lambda: live.failures == 1, 10, "live view to fail")
        assert live.reason == "RuntimeError: boom 1"
        await until(lambda: live.state == PartState.RUNNING, 10, "live view to come back")
        await until(lambda: agent.live is not None and agent.live.gop.snapshot(), 10, "a GOP cached again")
        await until(lambda: agent.counters.clips >= 3, 10, "clips")
        assert agent.counters.reconnects == 0, "the framer's session went on"
    finally:
        agent.stop()
        await asyncio.wait_for(task, 10)


class Flaky(Alerter):
    """An alerter with a bug in its first send."""

    config_model = SnapshotConfig

    def __init__(self) -> None:
        super().__init__(SnapshotConfig(), None)
        self.sent = 0

    async def send(self, alert: Alert) -> None:
        self.sent += 1
        if self.sent == 1:
            raise KeyError("a bug")


async def test_an_alerter_that_raises_is_marked_failed_and_the_others_still_get_the_alert(
    tmp_path: Path,
) -> None:
    flaky = Flaky()
    flaky.part = Part("alerter:flaky", "cam")
    snapshot = SnapshotAlerter(SnapshotConfig(), tmp_path)
    bus = AlertBus(AlertsConfig(cooldownSeconds=0), [snapshot, flaky], None)
    task = asyncio.create_task(bus.run())
    try:
        bus.publish(alert("person", 1000.0, image=np.zeros((60, 80, 3), np.uint8)))
        await until(lambda: flaky.part is not None and flaky.part.failures == 1, 5, "the alerter to fail")
        assert flaky.part.reason == "KeyError: 'a bug'"
        assert flaky.part.state == PartState.FAILED
        bus.publish(alert("person", 1001.0, image=np.zeros((60, 80, 3), np.uint8)))
        await until(lambda: flaky.sent == 2, 5, "the next alert to reach it")
        assert str(flaky.part.state) == "running"
        assert len(list((tmp_path / "cam" / "alerts").glob("*.jpg"))) == 2, "the snapshot alerter went on"
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_model_that_is_not_a_yolo_detector_disables_detection_with_its_reason(
    env: AgentEnv, tmp_path: Path
) -> None:
    names = tmp_path / "names.txt"
    names.write_bytes(b"\xff\xfe not utf-8 \x81")
    cases = {
        "classifier": {"model": str(not_a_detector_model(tmp_path / "classifier.onnx"))},
        "names": {"model": str(red_square_model(tmp_path / "red.onnx")), "classNames": str(names)},
    }
    for case, detector in cases.items():
        config = DetectorStreamerConfig.model_validate({"detector": {"type": "onnxYolo", **detector}})
        pipeline = CameraPipeline(
            framers=SMALL, streamers=[Mp4RecorderConfig(clipSeconds=1), config], alerters=[]
        )
        agent = Agent(Camera(id=f"cam-{case}", framerType="random"), pipeline, env)
        task = asyncio.create_task(agent.run())
        try:
            detection = part(agent, "detector")
            await until(lambda d=detection: d.state == PartState.DISABLED, 10, f"{case}: disabled")
            assert detection.reason is not None
            assert detection.reason.startswith("onnxYolo: ")
            await until(lambda a=agent: a.counters.clips >= 2, 10, f"{case}: recording goes on")
            assert detection.failures == 0
        finally:
            agent.stop()
            await asyncio.wait_for(task, 10)


async def test_guarded_restarts_with_backoff_and_ends_when_the_part_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    part_ = Part("thing", "cam")
    part_.backoff.initial = part_.backoff.cap = 0.05
    runs = {"n": 0}

    async def run() -> None:
        runs["n"] += 1
        if runs["n"] < 3:
            raise ValueError(f"try {runs['n']}")

    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(guarded(part_, run), 5)
    assert runs["n"] == 3
    assert part_.failures == 2
    assert part_.state == PartState.STOPPED
    assert [r.exc_info is not None for r in caplog.records if "thing failed" in r.getMessage()] == [
        True,
        True,
    ]


def test_a_thread_side_part_that_raises_is_skipped_for_its_backoff_then_restarted() -> None:
    offered: list[object] = []
    restarts: list[int] = []

    def offer(packet: Any) -> None:
        if not offered:
            offered.append("raised")
            raise np.linalg.LinAlgError("in the framer thread")
        offered.append(packet)

    guard = ThreadGuard(Part("webrtc", "cam"), offer, lambda: restarts.append(1))
    guard.offer("p1", now=100.0)  # type: ignore[arg-type]
    assert guard.part.state == PartState.FAILED
    retry_at = guard.part.retry_at
    assert retry_at > 100.0
    guard.offer("p2", now=retry_at - 0.01)  # type: ignore[arg-type]
    assert offered == ["raised"]
    assert not restarts
    guard.offer("p3", now=retry_at)  # type: ignore[arg-type]
    assert offered == ["raised", "p3"]
    assert restarts == [1]
    assert str(guard.part.state) == "running"


class HeldDisk:
    """An executor whose jobs wait until released (a disk that stops answering), then run in order."""

    def __init__(self) -> None:
        self.held = False
        self.jobs: list[tuple[Future[None], Any]] = []

    def submit(self, fn: Any) -> Future[None]:
        future: Future[None] = Future()
        if self.held:
            self.jobs.append((future, fn))
        else:
            fn()
            future.set_result(None)
        return future

    def release(self) -> None:
        self.held = False
        jobs, self.jobs = self.jobs, []
        for future, fn in jobs:
            fn()
            future.set_result(None)


async def test_a_camera_is_healthy_only_while_its_clips_keep_closing(
    env: AgentEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packets flow and nothing is dropped, but the disk stopped taking clips: the camera is not healthy
    (no heartbeat is written), and it is again once clips close."""
    monkeypatch.setattr("vsnative.streamers.recorder.RECORDING_MARGIN_SECONDS", 0.5)
    disk = HeldDisk()
    env.mux_executor = disk  # type: ignore[assignment]
    pipeline = CameraPipeline(framers=SMALL, streamers=[Mp4RecorderConfig(clipSeconds=1)], alerters=[])
    agent = Agent(Camera(id="cam", framerType="random"), pipeline, env)
    task = asyncio.create_task(agent.run())
    try:
        await until(lambda: agent.counters.clips >= 1 and agent.healthy, 10, "recording")
        disk.held = True
        await until(lambda: not agent.healthy, 10, "the camera to turn unhealthy")
        recording = agent.snapshot()["health"]["recording"]
        assert recording["ok"] is False
        assert recording["lastClipAge"] > recording["deadline"] - 0.5
        assert time.monotonic() - agent.last_packet_at < 1, "packets still flow"
        disk.release()
        await until(lambda: agent.healthy, 10, "healthy again once clips close")
    finally:
        disk.release()
        agent.stop()
        await asyncio.wait_for(task, 10)


async def test_a_recording_that_stalls_while_video_comes_in_says_so(tmp_path: Path) -> None:
    """The mux thread blocked (a hung disk): packets still arrive, live view would still work, but no clip
    closes. Past the recorder's deadline the camera is unhealthy and `recording_stalled` is stored; once
    the disk answers, clips close again and `recording_resumed` follows."""
    from vsnative.events import EventStore

    release = threading.Event()
    events = EventStore(tmp_path / "events.db")
    with (
        ThreadPoolExecutor(2) as demux,
        ThreadPoolExecutor(2) as io,
        ThreadPoolExecutor(1) as mux,
    ):
        env = AgentEnv(tmp_path, demux, io, mux_executor=mux, events=events, heartbeat_seconds=60)
        pipeline = CameraPipeline(framers=SMALL, streamers=[Mp4RecorderConfig(clipSeconds=1)], alerters=[])
        agent = Agent(Camera(id="cam", framerType="random"), pipeline, env)
        task = asyncio.create_task(agent.run())
        try:
            await until(lambda: agent.counters.clips >= 2, 15, "clips")
            assert agent.healthy
            mux.submit(release.wait, 60)  # the disk hangs: the mux thread is stuck behind this
            stalled_at = time.monotonic()

            def stored(kind: str) -> list[Any]:
                return events.query(kinds={kind})

            await until(lambda: stored("recording_stalled"), 20, "recording_stalled")
            waited = time.monotonic() - stalled_at
            assert waited >= 1.0  # not before a clip was due (clipSeconds)
            assert not agent.healthy
            recording = agent.recording()
            assert recording is not None
            assert recording["ok"] is False
            assert agent.state == AgentState.RUNNING  # video still comes in
            assert stored("camera_offline") == []
            release.set()
            await until(lambda: stored("recording_resumed"), 20, "recording_resumed")
            await until(lambda: agent.healthy, 20, "healthy again")
        finally:
            release.set()
            agent.stop()
            await asyncio.wait_for(task, 15)
    (event,) = events.query(kinds={"recording_stalled"})
    assert event.public()["message"] == "video comes in but no clip closes"
    events.close()
