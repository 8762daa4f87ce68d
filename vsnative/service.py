"""`vsnative serve`: an agent per non-excluded camera, the retention sweep and the HTTP API, one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web

from vsnative.agent import AgentEnv
from vsnative.api import Services, create_app
from vsnative.control.pool import AgentPool
from vsnative.control.store import FileCameraStore
from vsnative.models import Camera
from vsnative.pipeline import PipelineFile, load_pipeline
from vsnative.recordings import sweep
from vsnative.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class LoadedConfig:
    pipeline: PipelineFile
    store: FileCameraStore
    cameras: list[Camera]


def load_config(settings: Settings) -> LoadedConfig:
    """Read and validate settings/*.json (blocking, before the loop starts). Raises ConfigError."""
    pipeline = load_pipeline(settings.pipeline_file)
    store = FileCameraStore(settings.cameras_file)  # an unknown framerType fails that camera's agent only
    cameras = store.load()
    return LoadedConfig(pipeline, store, cameras)


async def _retention_loop(settings: Settings, pipeline: PipelineFile, executor: ThreadPoolExecutor) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            await loop.run_in_executor(executor, sweep, settings.recordings_dir, pipeline.retention)
        except OSError:
            log.exception("retention sweep failed")
        await asyncio.sleep(settings.retention_seconds)


async def serve(settings: Settings, config: LoadedConfig) -> None:
    """Run until SIGINT or SIGTERM, then stop every agent (closing its clips) and exit."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    demux = ThreadPoolExecutor(max_workers=settings.max_agents, thread_name_prefix="vsn-demux")
    io = ThreadPoolExecutor(max_workers=min(32, settings.max_agents + 4), thread_name_prefix="vsn-io")
    store = config.store
    store._executor = io
    env = AgentEnv(
        recordings_dir=settings.recordings_dir,
        demux_executor=demux,
        io_executor=io,
        heartbeat_seconds=settings.heartbeat_seconds,
        heartbeat=store.heartbeat,
    )
    pool = AgentPool(env, config.pipeline, settings.max_agents)
    runner = web.AppRunner(create_app(Services(settings, store, pool)), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        log.info("vsnative listening on http://%s:%d", settings.host, settings.port)
        for camera in config.cameras:
            if not camera.excluded:
                pool.start(camera)
        retention = asyncio.create_task(_retention_loop(settings, config.pipeline, io))
        await stop.wait()
        log.info("shutting down: stopping %d agents", len(pool.agents))
        retention.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await retention
        await pool.stop_all()
    finally:
        await runner.cleanup()
        demux.shutdown(wait=False, cancel_futures=True)
        io.shutdown(wait=True)
        log.info("vsnative stopped")
