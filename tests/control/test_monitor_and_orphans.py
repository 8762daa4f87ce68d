"""agents-monitor decisions and the file-backed orphan simulator."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.service import write_settings
from vsnative.control.leases import LocalLeases
from vsnative.control.monitor import AgentsMonitor, MonitorConfig, needs_agent
from vsnative.control.orphans import FileOrphanQueue
from vsnative.control.store import FileCameraStore
from vsnative.models import Camera

NOW = 1_800_000_000.0


def test_needs_agent_rules() -> None:
    fresh = Camera(id="a", lastHeartbeat=int(NOW) - 10)
    assert not needs_agent(fresh, leased=True, now=NOW, stale_seconds=300)
    assert needs_agent(fresh, leased=False, now=NOW, stale_seconds=300)  # nobody holds it
    stale = Camera(id="a", lastHeartbeat=int(NOW) - 301, startupTime=int(NOW) - 400)
    assert needs_agent(stale, leased=True, now=NOW, stale_seconds=300)  # abandoned
    starting = Camera(id="a", lastHeartbeat=0, startupTime=int(NOW) - 5)
    assert not needs_agent(starting, leased=True, now=NOW, stale_seconds=300)  # just started
    assert not needs_agent(Camera(id="a", excluded=True), leased=False, now=NOW, stale_seconds=300)


async def test_pending_requests_survive_a_restart(tmp_path: Path) -> None:
    queue = FileOrphanQueue(tmp_path / "orphans.json")
    assert await queue.publish("a")
    assert not await queue.publish("a")
    assert await queue.publish("b")
    taken = await queue.take("m", count=1, block=0)
    assert [r.camera_id for r in taken] == ["a"]
    again = FileOrphanQueue(tmp_path / "orphans.json")  # the process died before acknowledging
    assert await again.backlog() == 2
    assert [r.camera_id for r in await again.take("m", count=5, block=0)] == ["a", "b"]


async def test_monitor_never_offers_excluded_or_owned_cameras(tmp_path: Path) -> None:
    write_settings(tmp_path, [{"id": "run"}, {"id": "free"}, {"id": "off", "excluded": True}])
    store = FileCameraStore(tmp_path / "cameras.json")
    store.load()
    leases = LocalLeases()
    await leases.acquire("run", "m1", ttl=60)
    await store.update("run", startupTime=int(time.time()))
    queue = FileOrphanQueue(tmp_path / "orphans.json")
    monitor = AgentsMonitor(MonitorConfig(max_per_period=10), store, leases, queue)
    assert await monitor.sweep() == ["free"]
    assert await monitor.sweep() == []  # still pending: no duplicate
    assert await queue.backlog() == 1
