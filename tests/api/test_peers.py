"""A pod whose peer does not answer: the agent list names it, a relayed request answers 503, and every
such call is counted in /metrics and logged once per outage of that peer, not once per request."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.support.camera import free_port
from tests.support.service import write_settings
from vsnative.agent import AgentEnv
from vsnative.api import Services, create_app
from vsnative.control.leases import LocalLeases
from vsnative.control.manager import LocalRegistry
from vsnative.control.orphans import FileOrphanQueue
from vsnative.control.pool import AgentPool
from vsnative.pipeline import PipelineFile
from vsnative.service import load_file_store
from vsnative.settings import Settings


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    settings_dir = write_settings(tmp_path / "settings", [{"id": "far", "framerType": "random"}])
    settings = Settings(settings_dir=settings_dir, recordings_dir=tmp_path / "rec", log_json=False)
    registry, leases = LocalRegistry(), LocalLeases()
    # another pod runs camera "far" and announced an address where nothing listens (it has just died)
    gone = f"http://127.0.0.1:{free_port()}"
    await registry.announce("m2", {"id": "m2", "url": gone, "announceSeconds": 60})
    assert await leases.acquire("far", "m2", ttl=60) is not None
    with ThreadPoolExecutor(1) as demux, ThreadPoolExecutor(1) as io:
        pool = AgentPool(AgentEnv(tmp_path / "rec", demux, io), PipelineFile(), 1)
        services = Services(
            settings,
            load_file_store(settings),
            pool,
            None,
            FileOrphanQueue(tmp_path / "orphans.json"),
            registry,
            leases,
        )
        async with TestClient(TestServer(create_app(services))) as test_client:
            yield test_client


def failed(metrics: str) -> dict[str, int]:
    prefix = 'vsnative_peer_calls_failed_total{call="'
    return {
        line[len(prefix) :].split('"')[0]: int(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(prefix)
    }


async def test_a_peer_that_does_not_answer_is_named_counted_and_logged_once(
    client: TestClient[web.Request, web.Application], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vsnative.api.peers")
    for _ in range(3):  # a browser polling the list
        resp = await client.get("/api/agents")
        assert resp.status == 200
        assert (await resp.json())["unreachable"] == ["m2"]
    assert (await client.get("/api/agents/far")).status == 503
    snapshot = await client.get("/api/cameras/far/snapshot.jpg")
    assert snapshot.status == 503
    assert snapshot.headers["Retry-After"] == "5"
    whep = await client.post(
        "/api/cameras/far/whep", data="v=0\r\n", headers={"Content-Type": "application/sdp"}
    )
    assert whep.status == 503
    assert failed(await (await client.get("/metrics")).text()) == {"agents": 3, "agent": 1, "relay": 2}
    warnings = [r for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "vsnative_peer_calls_failed_total" in warnings[0].getMessage()
