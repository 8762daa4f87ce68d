"""Process assembly: `serve` (manager + monitor + API), `manager` (+ API) and `monitor`, on either backend."""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import functools
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aiohttp import web

from vsnative import cancellation, telemetry
from vsnative.agent import AgentEnv
from vsnative.alerters import ALERTERS
from vsnative.alerters.bus import AlertBus, AlertsConfig
from vsnative.api import Services, create_app
from vsnative.backoff import Backoff
from vsnative.control.leases import Leases, LocalLeases
from vsnative.control.manager import (
    AgentsManager,
    LocalRegistry,
    ManagerConfig,
    Registry,
    guarded,
)
from vsnative.control.monitor import AgentsMonitor, MonitorConfig
from vsnative.control.orphans import FileOrphanQueue, OrphanQueue
from vsnative.control.outage import BACKEND_ERRORS
from vsnative.control.pool import AgentPool
from vsnative.control.store import CameraStore, FileCameraStore, create_from_sample
from vsnative.events import Events, EventStore
from vsnative.health_events import StorageWatch
from vsnative.log import redact
from vsnative.pipeline import PipelineFile, load_pipeline
from vsnative.recordings import sweep
from vsnative.settings import Settings
from vsnative.supervisor import Supervisor
from vsnative.webrtc.ice import offer_host_addresses

log = logging.getLogger(__name__)
SHUTDOWN_SECONDS = 20  # agents get 10 s to close their clips, then are cancelled
SHUTDOWN_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, *BACKEND_ERRORS)


@dataclass
class Backend:
    store: CameraStore
    leases: Leases
    queue: OrphanQueue
    registry: Registry
    close: Callable[[], Awaitable[None]] | None = None


@dataclass
class Roles:
    manager: bool = True
    monitor: bool = True
    api: bool = True
    default_max_agents: int = 64
    extra: list[str] = field(default_factory=list)


def load_pipeline_config(settings: Settings) -> PipelineFile:
    """Validate pipeline.json (blocking, before the loop starts). Raises ConfigError."""
    return load_pipeline(settings.pipeline_file)


def load_file_store(settings: Settings) -> FileCameraStore:
    """Validate cameras.json (blocking), created from the sample on the first run. An unknown framerType
    fails that camera's agent only."""
    if create_from_sample(settings.cameras_file, settings.cameras_sample_file):
        log.info(
            "created %s from %s (edit it, or add cameras in the UI or the API)",
            settings.cameras_file,
            settings.cameras_sample_file.name,
        )
    store = FileCameraStore(settings.cameras_file)
    store.load()
    return store


def open_events(settings: Settings) -> Events:
    """The events store: SQLite beside the recordings for the embedded backend; Redis, shared by every
    pod, on a cluster (see events.py for why)."""
    if settings.backend == "redis":
        from vsnative.control.redis_events import RedisEvents

        return RedisEvents(settings.redis_url, settings.redis_prefix)
    return EventStore(settings.recordings_dir / "events.db")


async def open_backend(settings: Settings, file_store: FileCameraStore | None) -> Backend:
    if settings.backend == "file":
        if file_store is None:
            raise ValueError("the file backend needs the loaded cameras.json")
        return Backend(file_store, LocalLeases(), FileOrphanQueue(settings.orphans_file), LocalRegistry())
    from vsnative.control.redis_backend import RedisBackend, connect

    client = connect(settings.redis_url)
    backoff = Backoff(0.5, 10.0)
    while True:
        try:
            await client.ping()
            break
        except BACKEND_ERRORS as exc:
            delay = backoff.next_delay()
            log.error(
                "redis unreachable at %s (%s); retrying in %.1f s", redact(settings.redis_url), exc, delay
            )
            await cancellation.sleep(delay)
    log.info("connected to redis at %s", redact(settings.redis_url))
    backend = RedisBackend(client, settings.redis_prefix)
    return Backend(backend, backend, backend, backend, client.aclose)


async def _retention(
    settings: Settings, pipeline: PipelineFile, executor: ThreadPoolExecutor, events: Events | None
) -> None:
    """The retention role: a sweep every `retention_seconds`, and the recordings disk's health events
    (storage_low, retention_forced) sent to the default pipeline's alerters (a camera's own alerters get
    its camera events)."""
    alerters = [ALERTERS.get(cfg.type)(cfg, settings.recordings_dir) for cfg in pipeline.defaults.alerters]
    bus = AlertBus(AlertsConfig(), alerters, events)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(bus.run())
        tg.create_task(_sweep_loop(settings, pipeline, executor, bus))


async def _sweep_loop(
    settings: Settings, pipeline: PipelineFile, executor: ThreadPoolExecutor, bus: AlertBus
) -> None:
    loop = asyncio.get_running_loop()
    watch = StorageWatch()
    while True:
        try:
            report = await loop.run_in_executor(executor, sweep, settings.recordings_dir, pipeline.retention)
        except OSError:
            log.exception("retention sweep failed")
        else:
            if report.free is not None:
                age = (time.time() - report.oldest) / 3600 if report.oldest is not None else None
                min_free = pipeline.retention.minFreeBytes
                for notice in watch.observe(time.monotonic(), report.forced, report.free, min_free, age):
                    bus.notify(notice)
        await cancellation.sleep(settings.retention_seconds)


async def run(
    settings: Settings, roles: Roles, pipeline: PipelineFile, file_store: FileCameraStore | None
) -> int:
    """Run the chosen roles until SIGINT or SIGTERM, then stop every agent (closing its clip) and exit
    (0); or, when a role could not be kept alive, the same with 1 (for its orchestrator to restart it)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    max_agents = settings.max_agents or roles.default_max_agents
    demux = ThreadPoolExecutor(max_workers=max_agents, thread_name_prefix="vsn-demux")
    io = ThreadPoolExecutor(max_workers=min(32, max_agents + 4), thread_name_prefix="vsn-io")
    if file_store is not None:
        file_store._executor = io
    backend_task = asyncio.create_task(open_backend(settings, file_store))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({backend_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if not backend_task.done():
        backend_task.cancel()
        return 0
    backend = backend_task.result()
    # decoding and inference for every detector streamer: bounded to the cores, so detection can never
    # starve the recorders; an onnxruntime session uses its own intra-op threads inside one job
    detect = ThreadPoolExecutor(
        max_workers=max(1, (os.cpu_count() or 2) // 2), thread_name_prefix="vsn-detect"
    )
    events = open_events(settings) if roles.manager or roles.api else None
    # every camera's clips are written by one thread: fewer threads taking turns on the GIL (PyAV releases
    # it around each muxed packet) costs less CPU than a pool; the fan-out queues absorb a slow disk
    mux = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vsn-mux")
    ice = settings.ice()
    if ice.host_addresses:
        offer_host_addresses(ice.host_addresses)
    env = AgentEnv(
        recordings_dir=settings.recordings_dir,
        demux_executor=demux,
        io_executor=io,
        mux_executor=mux,
        detect_executor=detect,
        events=events,
        heartbeat_seconds=settings.heartbeat_seconds,
        heartbeat=guarded(backend.store.heartbeat),
        ice=ice,
        public_url=settings.public_url or "",
    )
    pool = AgentPool(env, pipeline, max_agents)
    telemetry.observe_agents(lambda: pool.agents)
    manager = None
    supervisor = Supervisor(stop_seconds=SHUTDOWN_SECONDS)
    if roles.manager:
        settings.recordings_dir.mkdir(parents=True, exist_ok=True)
        config = ManagerConfig(
            settings.manager_id,
            settings.lease_seconds,
            settings.reconcile_seconds,
            settings.stale_seconds,
            url=settings.advertised_url(),
        )
        manager = AgentsManager(config, backend.store, backend.leases, backend.queue, pool, backend.registry)
        supervisor.add("manager", manager.run)
        supervisor.add("retention", functools.partial(_retention, settings, pipeline, io, events))
    if roles.monitor:
        monitor_config = MonitorConfig(
            settings.monitor_seconds, settings.stale_seconds, settings.orphans_per_period
        )
        monitor = AgentsMonitor(monitor_config, backend.store, backend.leases, backend.queue)
        supervisor.add("monitor", monitor.run)
    runner = None
    exit_code = 0
    try:
        async with contextlib.AsyncExitStack() as roles_running:
            if roles.api:
                services = Services(
                    settings,
                    backend.store,
                    pool,
                    manager,
                    backend.queue,
                    backend.registry,
                    backend.leases,
                    events,
                    supervisor,
                )
                app = create_app(services, settings.bearer_token())
                app.cleanup_ctx.append(supervisor.lifetime)  # the roles live as long as the app
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                await web.TCPSite(runner, settings.host, settings.port).start()
                log.info("vsnative listening on http://%s:%d", settings.host, settings.port)
            else:
                await roles_running.enter_async_context(supervisor.running())
            given_up = asyncio.create_task(supervisor.given_up.wait())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({given_up, stopped}, return_when=asyncio.FIRST_COMPLETED)
            given_up.cancel()
            stopped.cancel()
            if supervisor.given_up.is_set():
                exit_code = 1
            log.info("shutting down: stopping %d agents", len(pool.agents))
    finally:
        # Every step is bounded: a shutdown that hangs would keep a dead pod's cameras owned. As a last
        # resort faulthandler prints every thread's stack and exits, so a hang is never silent.
        faulthandler.dump_traceback_later(SHUTDOWN_SECONDS + 15, exit=True)
        for name, step, seconds in (
            # the app's cleanup stops the roles (the manager stops every agent, closing its clip)
            ("http", runner.cleanup() if runner else None, SHUTDOWN_SECONDS + 5),
            ("backend", backend.close() if backend.close else None, 5),
        ):
            if step is not None:
                try:
                    await asyncio.wait_for(step, seconds)
                except SHUTDOWN_ERRORS as exc:
                    log.error("shutdown: closing %s failed: %r", name, exc)
        demux.shutdown(wait=False, cancel_futures=True)
        detect.shutdown(wait=True, cancel_futures=True)
        mux.shutdown(wait=True)
        io.shutdown(wait=True)
        if events is not None:
            events.close()
        faulthandler.cancel_dump_traceback_later()
        log.info("vsnative stopped" if not exit_code else "vsnative stopped: a role could not be kept alive")
    return exit_code
