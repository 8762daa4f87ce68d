"""OpenTelemetry: spans for agent start, reconnect and clip write, and per-camera metrics, captured with
the SDK's in-memory exporter and reader around real agents (synthetic and unreachable cameras)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.camera import free_port
from vsnative import telemetry
from vsnative.agent import Agent, AgentEnv
from vsnative.framers.synthetic import SyntheticFramerConfig
from vsnative.models import Camera
from vsnative.pipeline import CameraPipeline, FramersConfig
from vsnative.streamers.recorder import Mp4RecorderConfig

EXPORTER = InMemorySpanExporter()
READER = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def providers() -> None:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[AgentEnv]:
    with ThreadPoolExecutor(2) as demux, ThreadPoolExecutor(2) as io:
        yield AgentEnv(tmp_path, demux, io, heartbeat_seconds=60, backoff_initial=0.2, backoff_cap=0.5)


async def run_for(agent: Agent, seconds: float) -> None:
    task = asyncio.create_task(agent.run())
    await asyncio.sleep(seconds)
    agent.stop()
    await asyncio.wait_for(task, 10)


async def test_spans_for_start_and_clip_write(env: AgentEnv) -> None:
    pipeline = CameraPipeline(
        framers=FramersConfig(random=SyntheticFramerConfig(width=160, height=120, fps=10, gopSeconds=0.5)),
        streamers=[Mp4RecorderConfig(clipSeconds=1)],
    )
    agent = Agent(Camera(id="syn", framerType="random"), pipeline, env)
    telemetry.observe_agents(lambda: [agent])
    EXPORTER.clear()
    await run_for(agent, 3.0)
    spans = EXPORTER.get_finished_spans()
    starts = [s for s in spans if s.name == "agent.start"]
    clips = [s for s in spans if s.name == "clip.write"]
    assert len(starts) == 1
    assert starts[0].attributes is not None
    assert starts[0].attributes["camera.id"] == "syn"
    assert len(clips) >= 2
    assert clips[0].attributes is not None
    assert int(str(clips[0].attributes["clip.frames"])) > 0
    assert str(clips[0].attributes["clip.file"]).endswith(".mp4")

    data = READER.get_metrics_data()
    assert data is not None
    points = {
        metric.name: {p.attributes["camera"]: p.value for p in metric.data.data_points}  # type: ignore[union-attr, index]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert points["vsnative.camera.packets"]["syn"] >= 20
    assert points["vsnative.camera.clips"]["syn"] >= 2


async def test_span_for_reconnect(env: AgentEnv) -> None:
    camera = Camera(id="gone", framerType="rtsp", rtspUrl=f"rtsp://127.0.0.1:{free_port()}/x")
    agent = Agent(camera, CameraPipeline(), env)
    EXPORTER.clear()
    await run_for(agent, 1.5)
    reconnects = [s for s in EXPORTER.get_finished_spans() if s.name == "agent.reconnect"]
    assert reconnects
    assert reconnects[0].attributes is not None
    assert reconnects[0].attributes["failure"] == "unreachable"
    assert reconnects[0].attributes["camera.id"] == "gone"


async def test_spans_for_detection_and_alert(env: AgentEnv) -> None:
    from vsnative.streamers.detect import DetectorStreamerConfig

    # the synthetic camera's pattern moves: a motion detector on it raises alerts
    pipeline = CameraPipeline(
        framers=FramersConfig(random=SyntheticFramerConfig(width=160, height=120, fps=10, gopSeconds=0.5)),
        streamers=[DetectorStreamerConfig.model_validate({"detector": {"type": "motion"}, "fps": 5})],
    )
    agent = Agent(Camera(id="mov", framerType="random"), pipeline, env)
    EXPORTER.clear()
    await run_for(agent, 2.5)
    names = [s.name for s in EXPORTER.get_finished_spans()]
    assert names.count("detection") >= 5
    assert "alert" in names
    alert = next(s for s in EXPORTER.get_finished_spans() if s.name == "alert")
    assert alert.attributes is not None
    assert alert.attributes["label"] == "motion"
