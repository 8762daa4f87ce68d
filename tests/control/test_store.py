"""File camera store: atomic heartbeats; a user's edit is merged; a broken file is never overwritten."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.support.service import write_settings
from vsnative.agent import AgentState, Heartbeat
from vsnative.control.store import FileCameraStore
from vsnative.errors import ConfigError


def beat(camera_id: str, healthy: bool, at: int = 1_800_000_000) -> Heartbeat:
    state = AgentState.RUNNING if healthy else AgentState.RETRYING
    return Heartbeat(camera_id, "agent-1", at - 100, at, 100, healthy, state)


def records(path: Path) -> dict[str, dict[str, object]]:
    return {r["id"]: r for r in json.loads(path.read_text())}


@pytest.fixture
def store(tmp_path: Path) -> FileCameraStore:
    write_settings(tmp_path, [{"id": "a", "rtspUrl": "rtsp://u:p@h/a"}, {"id": "b"}])
    s = FileCameraStore(tmp_path / "cameras.json")
    s.load()
    return s


async def test_healthy_heartbeat_writes_vs_go_fields(store: FileCameraStore) -> None:
    await store.heartbeat(beat("a", healthy=True))
    a = records(store.path)["a"]
    assert (a["agentId"], a["startupTime"], a["lastHeartbeat"], a["uptime"]) == (
        "agent-1",
        1_799_999_900,
        1_800_000_000,
        100,
    )
    assert a["rtspUrl"] == "rtsp://u:p@h/a"  # the secret is stored as it was


async def test_unhealthy_agent_does_not_claim_to_be_alive(store: FileCameraStore) -> None:
    await store.heartbeat(beat("a", healthy=True, at=1_800_000_000))
    await store.heartbeat(beat("a", healthy=False, at=1_800_000_060))
    a = records(store.path)["a"]
    assert a["lastHeartbeat"] == 1_800_000_000
    assert a["uptime"] == 100


async def test_user_edit_between_heartbeats_is_kept(store: FileCameraStore) -> None:
    await store.heartbeat(beat("a", healthy=True))
    data = json.loads(store.path.read_text())
    data[1]["name"] = "Front door"
    data.append({"id": "c", "rtspUrl": "rtsp://h/c"})
    store.path.write_text(json.dumps(data))
    os.utime(store.path, ns=(1, 1))  # make sure the change is seen even within one mtime tick
    await store.heartbeat(beat("a", healthy=True, at=1_800_000_030))
    now = records(store.path)
    assert now["b"]["name"] == "Front door"
    assert "c" in now
    assert now["a"]["lastHeartbeat"] == 1_800_000_030


async def test_broken_file_is_never_overwritten(store: FileCameraStore) -> None:
    broken = b'[{"id": "a", "excluded": "nope"'
    store.path.write_bytes(broken)
    with pytest.raises(ConfigError):
        await store.heartbeat(beat("a", healthy=True))
    assert store.path.read_bytes() == broken


async def test_concurrent_heartbeats_lose_no_update(tmp_path: Path) -> None:
    write_settings(tmp_path, [{"id": f"c{i}"} for i in range(20)])
    store = FileCameraStore(tmp_path / "cameras.json")
    store.load()
    await asyncio.gather(*(store.heartbeat(beat(f"c{i}", True, at=1_800_000_000 + i)) for i in range(20)))
    now = records(store.path)
    assert [now[f"c{i}"]["lastHeartbeat"] for i in range(20)] == [1_800_000_000 + i for i in range(20)]
    assert not list(tmp_path.glob(".cameras.json.*"))  # no temp file left behind
