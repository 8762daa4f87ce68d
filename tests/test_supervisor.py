"""Supervised roles: a role that dies is restarted (and /api/health says 503 naming it meanwhile); one that
keeps dying makes the process exit non-zero for its orchestrator to restart it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.camera import free_port
from vsnative import recordings, service
from vsnative.control.manager import AgentsManager
from vsnative.control.monitor import AgentsMonitor
from vsnative.service import Roles, load_file_store, load_pipeline_config
from vsnative.settings import Settings
from vsnative.supervisor import Supervisor


async def test_a_role_that_dies_is_restarted_and_shown_down_meanwhile(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = Supervisor(backoff_initial=0.2, backoff_cap=0.2, max_failures=5, window=60)
    runs = {"n": 0}
    going = asyncio.Event()

    async def flaky() -> None:
        runs["n"] += 1
        if runs["n"] <= 2:
            raise RuntimeError(f"bug {runs['n']}")
        going.set()
        await asyncio.Event().wait()

    supervisor.add("thing", flaky)
    seen_down = False
    with caplog.at_level(logging.ERROR):
        async with supervisor.running():
            for _ in range(100):
                seen_down = seen_down or supervisor.down() == ["thing"]
                if going.is_set():
                    break
                await asyncio.sleep(0.02)
            assert going.is_set()
            assert supervisor.down() == []
            assert supervisor.roles["thing"].failures == 2
            assert supervisor.roles["thing"].last_error == "RuntimeError: bug 2"
    assert seen_down
    assert supervisor.roles["thing"].state == "stopped"
    assert not supervisor.given_up.is_set()
    logged = [r for r in caplog.records if "thing failed" in r.getMessage()]
    assert len(logged) == 2
    assert all(r.exc_info for r in logged)


async def test_a_role_that_keeps_dying_is_given_up() -> None:
    supervisor = Supervisor(backoff_initial=0.05, backoff_cap=0.05, max_failures=3, window=60)

    async def broken() -> None:
        raise OSError("disk gone")

    supervisor.add("retention", broken)
    async with supervisor.running():
        await asyncio.wait_for(supervisor.given_up.wait(), 5)
        assert supervisor.roles["retention"].state == "dead"
        assert supervisor.down() == ["retention"]


def health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_serve_restarts_its_manager_monitor_and_retention_and_exits_non_zero_when_one_cannot_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one `serve`: retention and the manager each raise once (restarted), the monitor raises every
    time (given up after 3): health answers 503 naming the monitor meanwhile, and serve returns 1."""
    settings_dir = tmp_path / "settings"
    settings_dir.mkdir()
    (settings_dir / "cameras.json").write_text("[]\n")
    port = free_port()
    settings = Settings(
        settings_dir=settings_dir,
        recordings_dir=tmp_path / "rec",
        port=port,
        retention_seconds=0.2,
        reconcile_seconds=0.2,
        log_json=False,
    )
    calls: dict[str, int] = {"sweep": 0, "reconcile": 0}
    real_sweep = recordings.sweep

    def sweep_once_broken(*args: Any) -> Any:
        calls["sweep"] += 1
        if calls["sweep"] == 1:
            raise RuntimeError("retention bug")
        return real_sweep(*args)

    real_reconcile = AgentsManager._reconcile_loop

    async def reconcile_once_broken(self: AgentsManager) -> None:
        calls["reconcile"] += 1
        if calls["reconcile"] == 1:
            raise RuntimeError("manager bug")
        await real_reconcile(self)

    async def monitor_broken(self: AgentsMonitor) -> None:
        await asyncio.sleep(0.3)
        raise RuntimeError("monitor bug")

    # OpenTelemetry's global meter would keep this process's pool (tests/test_telemetry.py sets the real one)
    monkeypatch.setattr("vsnative.telemetry.observe_agents", lambda agents: None)
    monkeypatch.setattr("vsnative.service.sweep", sweep_once_broken)
    monkeypatch.setattr(AgentsManager, "_reconcile_loop", reconcile_once_broken)
    monkeypatch.setattr(AgentsMonitor, "run", monitor_broken)
    monkeypatch.setattr(
        service,
        "Supervisor",
        functools.partial(Supervisor, backoff_initial=0.5, backoff_cap=0.5, max_failures=3),
    )
    store = load_file_store(settings)
    task = asyncio.create_task(service.run(settings, Roles(), load_pipeline_config(settings), store))
    answers: list[tuple[int, dict[str, Any]]] = []
    for _ in range(200):
        if task.done():
            break
        with contextlib.suppress(OSError):  # not listening yet, or already gone
            answers.append(await asyncio.to_thread(health, port))
        await asyncio.sleep(0.05)
    assert await asyncio.wait_for(task, 30) == 1
    degraded = [body for status, body in answers if status == 503]
    assert degraded, answers
    assert "monitor" in degraded[-1]["down"]
    last = answers[-1][1]["roles"]
    assert last["retention"]["failures"] == 1
    assert last["retention"]["state"] == "running"
    assert last["manager"]["failures"] == 1
    assert last["manager"]["state"] == "running"
    assert last["monitor"]["failures"] >= 2
    assert calls["sweep"] >= 2, "retention ran again after its failure"
