"""The Redis backend against a real Redis: leases, fencing tokens, orphan stream, cameras."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.redis import URL, delete_prefix, unique_prefix
from vsnative.agent import AgentState, Heartbeat
from vsnative.control.leases import Lease
from vsnative.control.redis_backend import RedisBackend, connect
from vsnative.errors import ConflictError, NotFoundError
from vsnative.models import Camera


@pytest.fixture
async def backend() -> AsyncIterator[RedisBackend]:
    prefix = unique_prefix()
    client = connect(URL)
    try:
        await client.ping()
    except OSError as exc:
        pytest.fail(f"Redis is not running at {URL} (scripts/test.sh starts it): {exc}")
    yield RedisBackend(client, prefix)
    await client.aclose()
    delete_prefix(URL, prefix)


async def test_lease_is_exclusive_and_tokens_grow(backend: RedisBackend) -> None:
    first = await backend.acquire("cam", "m1", ttl=10)
    assert first == Lease("cam", "m1", 1)
    assert await backend.acquire("cam", "m2", ttl=10) is None
    assert await backend.holders(["cam", "other"]) == {"cam": first}
    await backend.release(Lease("cam", "m2", 1))  # not the holder: nothing happens
    assert await backend.holders(["cam"]) == {"cam": first}
    await backend.release(first)
    second = await backend.acquire("cam", "m2", ttl=10)
    assert second is not None
    assert second.token == 2


async def test_renew_extends_only_our_own_lease(backend: RedisBackend) -> None:
    mine = await backend.acquire("cam", "m1", ttl=0.2)
    assert mine is not None
    assert await backend.renew(mine, ttl=10)
    assert await backend.acquire("cam", "m2", ttl=10) is None
    assert not await backend.renew(Lease("cam", "m2", 7), ttl=10)


async def test_vanished_lease_is_retaken_unless_someone_newer_took_it(backend: RedisBackend) -> None:
    mine = await backend.acquire("cam", "m1", ttl=10)
    assert mine is not None
    await backend.redis.delete(
        backend.key("owner", "cam"), backend.key("fence", "cam")
    )  # Redis lost its data
    assert await backend.renew(mine, ttl=10)  # re-established, fence restored to our token
    assert await backend.holders(["cam"]) == {"cam": mine}
    await backend.redis.delete(backend.key("owner", "cam"))  # expired while we were cut off...
    newer = await backend.acquire("cam", "m2", ttl=10)  # ...and another manager took it
    assert newer is not None
    assert newer.token == mine.token + 1
    assert not await backend.renew(mine, ttl=10)


async def test_orphan_requests_are_deduplicated_until_acknowledged(backend: RedisBackend) -> None:
    assert await backend.publish("a")
    assert not await backend.publish("a")
    assert await backend.publish("b")
    assert await backend.backlog() == 2
    taken = await backend.take("m1", count=1, block=0.1)
    assert [r.camera_id for r in taken] == ["a"]
    assert not await backend.publish("a")  # taken but not acknowledged: still pending
    await backend.ack("m1", taken[0])
    assert await backend.backlog() == 1
    assert await backend.publish("a")


async def test_a_waiting_request_stays_one_request_however_long_it_waits(backend: RedisBackend) -> None:
    """A full cluster: nobody takes the request. Before, its marker expired after 300 s and the monitor
    queued the camera again, doubling the backlog KEDA scales on every 5 minutes."""
    assert await backend.publish("a")
    assert await backend.redis.ttl(backend.key("orphan", "a")) == -1  # no expiry to wait out
    for _ in range(3):  # monitor sweeps, as many as you like
        assert not await backend.publish("a")
    assert await backend.backlog() == 1
    entries: Any = await backend.redis.xrange(backend.key("orphans"))
    ((entry_id, _),) = entries
    await backend.redis.xdel(backend.key("orphans"), entry_id)  # the request lost (trimmed, say)...
    assert await backend.publish("a")  # ...is published again: its marker never holds a lost request
    assert await backend.backlog() == 1


async def test_requests_of_a_dead_manager_are_reclaimed(backend: RedisBackend) -> None:
    await backend.publish("a")
    taken = await backend.take("dead-manager", count=5, block=0.1)
    assert len(taken) == 1  # then the manager dies without acknowledging
    assert await backend.take("m2", count=5, block=0.1, reclaim_idle=60) == []
    reclaimed = await backend.take("m2", count=5, block=0.1, reclaim_idle=0)
    assert [r.camera_id for r in reclaimed] == ["a"]


async def test_malformed_stream_entry_is_skipped_and_acknowledged(backend: RedisBackend) -> None:
    await backend.publish("a")
    await backend.redis.xadd(backend.key("orphans"), {"junk": "1"})
    taken = await backend.take("m1", count=5, block=0.1)
    assert [r.camera_id for r in taken] == ["a"]
    await backend.ack("m1", taken[0])
    assert await backend.backlog() == 0


async def test_cameras_crud_and_heartbeat(backend: RedisBackend) -> None:
    cam = Camera(id="c1", name="door", rtspUrl="rtsp://u:p@h/1")
    await backend.create(cam)
    with pytest.raises(ConflictError):
        await backend.create(cam)
    patched = await backend.patch("c1", {"excluded": True})
    assert patched.excluded
    assert patched.url == "rtsp://u:p@h/1"
    await backend.heartbeat(Heartbeat("c1", "agent-9", 100, 200, 100, True, AgentState.RUNNING))
    await backend.heartbeat(Heartbeat("c1", "agent-9", 100, 260, 160, False, AgentState.RETRYING))
    got = await backend.get("c1")
    assert got is not None
    assert (got.agentId, got.lastHeartbeat, got.uptime, got.name) == ("agent-9", 200, 160, "door")
    await backend.heartbeat(
        Heartbeat("gone", "x", 1, 2, 1, True, AgentState.RUNNING)
    )  # deleted: no record made
    assert await backend.get("gone") is None
    with pytest.raises(NotFoundError):
        await backend.patch("gone", {"name": "x"})
    assert [c.id for c in await backend.list_cameras()] == ["c1"]
    assert await backend.delete("c1")
    assert await backend.list_cameras() == []


async def test_edits_succeed_while_the_agent_heartbeats(backend: RedisBackend) -> None:
    """PATCHes racing the agent's heartbeats and one another: none is refused and none undoes another."""
    await backend.create(Camera(id="c1", name="door", rtspUrl="rtsp://h/1"))

    async def beats() -> None:
        for i in range(300):
            await backend.heartbeat(Heartbeat("c1", "agent-1", 1, 1000 + i, i, True, AgentState.RUNNING))

    async def rename() -> None:
        for i in range(40):
            await backend.patch("c1", {"name": f"door {i}"})

    async def toggle() -> None:
        for i in range(40):
            await backend.patch("c1", {"excluded": i % 2 == 0})

    await asyncio.gather(beats(), rename(), toggle())
    got = await backend.get("c1")
    assert got is not None
    assert (got.name, got.excluded, got.lastHeartbeat, got.uptime) == ("door 39", False, 1299, 299)


async def test_an_edit_never_undoes_one_made_after_it_read(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another manager's edit lands between this one's read and write: both edits survive."""
    await backend.create(Camera(id="c1", name="door", rtspUrl="rtsp://h/1"))
    other = RedisBackend(connect(URL), backend.prefix)
    read = backend.redis.hgetall
    raced: list[Camera] = []

    async def read_then_another_edit(key: str) -> Any:
        raw = await read(key)
        if not raced:
            raced.append(await other.patch("c1", {"excluded": True}))
        return raw

    monkeypatch.setattr(backend.redis, "hgetall", read_then_another_edit)
    await backend.patch("c1", {"name": "gate"})
    await other.redis.aclose()
    got = await backend.get("c1")
    assert got is not None
    assert raced
    assert (got.name, got.excluded) == ("gate", True)


async def test_of_racing_creates_of_one_id_exactly_one_wins(backend: RedisBackend) -> None:
    clients = [RedisBackend(connect(URL), backend.prefix) for _ in range(8)]
    got = await asyncio.gather(
        *(c.create(Camera(id="c1", name=f"door {i}", rtspUrl="rtsp://h/1")) for i, c in enumerate(clients)),
        return_exceptions=True,
    )
    for c in clients:
        await c.redis.aclose()
    won = [g for g in got if isinstance(g, Camera)]
    assert len(won) == 1
    assert all(isinstance(g, ConflictError) for g in got if g not in won)
    stored = await backend.get("c1")
    assert stored is not None
    assert stored.name == won[0].name
    assert [c.id for c in await backend.list_cameras()] == ["c1"]
