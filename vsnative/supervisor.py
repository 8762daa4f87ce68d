"""The process's long-lived roles (agents-manager, agents-monitor, retention) under one supervisor.

A role that raises is logged with its traceback, shown by `/api/health` (503, naming it) while it is down,
and restarted after a capped backoff. One that keeps dying (`max_failures` within `window` seconds) is
given up: `given_up` is set and the process exits non-zero, so its orchestrator (systemd, Kubernetes)
restarts it. The roles live as long as the aiohttp app (`lifetime` is its cleanup context) or, in a process
without the API, as long as `running()`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from vsnative import cancellation
from vsnative.backoff import Backoff

log = logging.getLogger(__name__)


@dataclass
class Role:
    name: str
    run: Callable[[], Coroutine[Any, Any, None]]
    state: str = "starting"  # running, restarting (after it raised), dead (given up), stopped
    failures: int = 0
    last_error: str | None = None
    recent: collections.deque[float] = field(default_factory=collections.deque)  # monotonic failure times

    def snapshot(self) -> dict[str, object]:
        return {"state": self.state, "failures": self.failures, "lastError": self.last_error}


class Supervisor:
    def __init__(
        self,
        backoff_initial: float = 1.0,
        backoff_cap: float = 30.0,
        max_failures: int = 5,
        window: float = 300.0,
        stop_seconds: float = 20.0,
    ) -> None:
        self.backoff_initial, self.backoff_cap = backoff_initial, backoff_cap
        self.max_failures, self.window = max_failures, window
        self.stop_seconds = stop_seconds  # what the roles get to finish (the manager closes every clip)
        self.roles: dict[str, Role] = {}
        self.given_up = asyncio.Event()  # a role could not be kept alive: the process should exit
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.roles[name] = Role(name, run)

    def down(self) -> list[str]:
        """The roles not running now (restarting or given up)."""
        return [role.name for role in self.roles.values() if role.state in ("restarting", "dead")]

    async def lifetime(self, _app: web.Application | None = None) -> AsyncIterator[None]:
        """Start every role; stop them (bounded) when the app, or `running()`, ends."""
        self._tasks = [
            asyncio.create_task(self._supervise(role), name=role.name) for role in self.roles.values()
        ]
        try:
            yield
        finally:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                _, pending = await asyncio.wait(self._tasks, timeout=self.stop_seconds)
                for task in pending:
                    buffer = io.StringIO()
                    task.print_stack(file=buffer)
                    log.error(
                        "shutdown: %s still running after %.0f s at\n%s",
                        task.get_name(),
                        self.stop_seconds,
                        buffer.getvalue(),
                    )

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        """The same lifetime for a process without the API."""
        return contextlib.asynccontextmanager(self.lifetime)()

    async def _supervise(self, role: Role) -> None:
        backoff = Backoff(self.backoff_initial, self.backoff_cap)
        while True:
            role.state = "running"
            started = time.monotonic()
            try:
                # each run in a task of its own: a TaskGroup inside that fails leaves its parent task
                # counted as cancelled on Python 3.11 (its __aexit__ had taken back the count before the
                # child failed), which must not read as this role being stopped (cancellation.requested)
                await asyncio.create_task(role.run(), name=role.name)
            except asyncio.CancelledError:
                role.state = "stopped"
                raise
            except Exception as exc:
                if cancellation.requested():  # it raised on its way out (a lost CancelledError): stopped
                    role.state = "stopped"
                    raise asyncio.CancelledError from exc
                now = time.monotonic()
                if now - started > self.window:
                    backoff.reset()
                role.failures += 1
                role.last_error = f"{type(exc).__name__}: {exc}"[:500]
                role.recent.append(now)
                while role.recent and now - role.recent[0] > self.window:
                    role.recent.popleft()
                if len(role.recent) >= self.max_failures:
                    role.state = "dead"
                    log.critical(
                        "%s failed %d times in %.0f s (%s); giving up: the process exits for its "
                        "orchestrator to restart it",
                        role.name,
                        len(role.recent),
                        self.window,
                        role.last_error,
                        exc_info=exc,
                    )
                    self.given_up.set()
                    return
                delay = backoff.next_delay()
                role.state = "restarting"
                log.error(
                    "%s failed (%s); restarting in %.1f s", role.name, role.last_error, delay, exc_info=exc
                )
                await cancellation.sleep(delay)
                continue
            role.state = "stopped"  # a role that returns has finished its work
            return
