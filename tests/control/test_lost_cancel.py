"""Every long-lived loop of the control plane stops when it is cancelled, even when Python 3.11's
`asyncio.wait_for` (which redis-py sends every command through) loses the CancelledError: a cancel that
arrives as a command goes out to a real Redis is answered by the command's reply, not by CancelledError.
Before `vsnative.cancellation`, a `vsnative monitor` so cancelled by SIGTERM ran on past CI's 20 s wait."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.redis import URL, delete_prefix, unique_prefix
from vsnative import cancellation
from vsnative.agent import AgentEnv
from vsnative.control.manager import AgentsManager, ManagerConfig
from vsnative.control.monitor import AgentsMonitor, MonitorConfig
from vsnative.control.pool import AgentPool
from vsnative.control.redis_backend import RedisBackend, connect
from vsnative.models import Camera
from vsnative.pipeline import PipelineFile
from vsnative.supervisor import Supervisor


class CancelledOnTheWire(RedisBackend):
    """The real backend, whose named command is sent just as the task running it is cancelled (the
    SIGTERM of an orchestrator lands at any instant); counts how many such commands still answered."""

    def __init__(self, client: Any, prefix: str, command: str) -> None:
        super().__init__(client, prefix)
        self.answered_after_cancel = 0
        self.sending = asyncio.Event()  # set as the command goes out
        self.cancel_own_task = True  # else whoever waits for `sending` cancels it
        real = getattr(self, command)

        async def cancelled_as_sent(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            assert task is not None
            if self.cancel_own_task:
                task.cancel()
            self.sending.set()
            result = await real(*args, **kwargs)
            if task.cancelling():
                self.answered_after_cancel += 1  # the CancelledError was lost: the caller carries on
            return result

        setattr(self, command, cancelled_as_sent)  # this instance's command only


Wire = Callable[[str], Awaitable["CancelledOnTheWire"]]


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = unique_prefix()
    yield prefix
    delete_prefix(URL, prefix)


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[AgentPool]:
    with ThreadPoolExecutor(1) as demux, ThreadPoolExecutor(1) as io:
        yield AgentPool(AgentEnv(tmp_path, demux, io, heartbeat_seconds=60), PipelineFile(), 2)


async def stops(loop: Callable[[], Coroutine[Any, Any, None]], within: float = 3.0) -> None:
    task = asyncio.create_task(loop())
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        task.cancel()  # the loop is in its sleep now: this one lands
        await asyncio.gather(task, return_exceptions=True)
        raise AssertionError(f"{loop.__qualname__} went on for {within} s after it was cancelled")
    assert task.cancelled()


@pytest.fixture
async def wire(redis_prefix: str) -> AsyncIterator[Wire]:
    """Backends on the real Redis (one client each), closed however the test ends."""
    clients: list[Any] = []

    async def open_backend(command: str) -> CancelledOnTheWire:
        client = connect(URL)
        clients.append(client)
        try:
            await client.ping()
        except OSError as exc:
            pytest.fail(f"Redis is not running at {URL} (scripts/test.sh starts it): {exc}")
        wired = CancelledOnTheWire(client, redis_prefix, command)
        await wired.import_cameras([Camera(id="cam1", framerType="random")])
        return wired

    yield open_backend
    for client in clients:
        await client.aclose()
    await asyncio.sleep(0.05)  # a connection dropped mid-command closes its transport on the next rounds


def lost_here(wired: CancelledOnTheWire) -> None:
    """On Python 3.11 the premise holds: the command answered although its task was cancelled."""
    if sys.version_info < (3, 12):
        assert wired.answered_after_cancel >= 1


async def test_the_monitor_stops_when_its_cancel_is_lost_in_a_redis_command(wire: Wire) -> None:
    wired = await wire("list_cameras")
    monitor = AgentsMonitor(MonitorConfig(period_seconds=0.05), wired, wired, wired)
    await stops(monitor.run)
    lost_here(wired)


@pytest.mark.parametrize(
    ("loop", "command"),
    # (_renew_loop renews through asyncio.gather, which raises CancelledError however its children end)
    [("_reconcile_loop", "list_cameras"), ("_consume_loop", "take")],
)
async def test_each_manager_loop_stops_when_its_cancel_is_lost_in_a_redis_command(
    wire: Wire, pool: AgentPool, loop: str, command: str
) -> None:
    wired = await wire(command)
    config = ManagerConfig("m1", reconcile_seconds=0.05, take_block_seconds=0.05)
    manager = AgentsManager(config, wired, wired, wired, pool, wired)
    await stops(getattr(manager, loop))
    lost_here(wired)


async def test_a_role_that_raises_on_its_way_out_is_stopped_not_restarted(wire: Wire) -> None:
    """The supervisor stops its roles as a command is on the wire; the role's cancel is lost there and it
    then fails (a timeout, Redis gone): it is stopped, not restarted (a stopping process restarted it until
    it gave up on it as dead)."""
    wired = await wire("list_cameras")
    wired.cancel_own_task = False
    runs = 0

    async def role() -> None:
        nonlocal runs
        runs += 1
        await wired.list_cameras()
        raise TimeoutError("Timeout reading from redis")

    supervisor = Supervisor(backoff_initial=0.05, backoff_cap=0.05, stop_seconds=3)
    supervisor.add("monitor", role)
    async with supervisor.running():
        await wired.sending.wait()  # leaving stops the roles: now, as the command goes out
    assert supervisor.roles["monitor"].state == "stopped"
    assert runs == 1
    lost_here(wired)


async def test_check_ignores_a_cancel_taken_back() -> None:
    """asyncio.timeout cancels its task and takes it back (uncancel) when it expires: not a stop."""

    async def body() -> str:
        cancellation.check()  # nothing sent
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.01):
                await asyncio.sleep(1)
        cancellation.check()
        await cancellation.sleep(0)
        return "ran"

    assert await asyncio.create_task(body()) == "ran"
