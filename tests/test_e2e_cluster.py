"""The control plane on Redis with real processes: 4 agents-managers, an agents-monitor, synthetic cameras.

Every camera runs exactly once; a full manager takes nothing and the backlog shows the rest; a manager
killed with -9 has its cameras re-homed within lease TTL + monitor period + 2 s; excluding a camera stops
exactly its agent and frees the slot for the next orphan. The managers' start/stop records (with fencing
tokens) prove that no camera ever ran twice.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice
import pytest
import redis

from tests.support.redis import URL, RedisServer, delete_prefix, unique_prefix
from tests.support.service import Service, start_monitor, stop_monitor, write_settings
from tests.support.whep import Viewer
from vsnative.control.redis_events import RedisEvents
from vsnative.events import Event
from vsnative.webrtc.ice import offer_host_addresses

pytestmark = pytest.mark.slow
LEASE, MONITOR, RECONCILE = 3.0, 1.0, 1.0
SMALL = {"defaults": {"framers": {"random": {"width": 160, "height": 120, "fps": 5, "gopSeconds": 1}}}}


def request(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback test URL
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


async def watch_through(base: str, camera: str) -> tuple[int, bool]:
    """Live view of a camera through a pod that does not run it, as a browser behind a load balancer
    does: the offer and the DELETE go to that pod (a browser cannot follow a 307 to another origin)."""
    saved = aioice.ice.get_host_addresses
    offer_host_addresses(["127.0.0.1"])
    viewer = Viewer(f"{base}/api/cameras/{camera}/whep")
    try:
        async with aiohttp.ClientSession() as session:
            answer = await viewer.connect(session)
            assert answer.status == 201, answer.body  # type: ignore[attr-defined]
            assert viewer.location.startswith(f"/api/cameras/{camera}/whep/"), viewer.location
            await viewer.wait_frames(5, 15)
            async with session.delete(base + viewer.location) as resp:
                return len(viewer.frames), resp.status == 200
    finally:
        await viewer.close()
        aioice.ice.get_host_addresses = saved


def import_cameras(settings: Path, url: str, prefix: str) -> None:
    """`vsnative import-cameras`: settings/cameras.json into Redis under prefix."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "vsnative",
            "import-cameras",
            "--settings-dir",
            str(settings),
            "--backend",
            "redis",
            "--redis-url",
            url,
            "--redis-prefix",
            prefix,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


class Cluster:
    def __init__(self, tmp: Path, cameras: int) -> None:
        self.tmp = tmp
        self.prefix = unique_prefix()
        self.common = ["--backend", "redis", "--redis-url", URL, "--redis-prefix", self.prefix]
        self.settings = write_settings(
            tmp / "settings", [{"id": f"cam{i:02d}", "framerType": "random"} for i in range(cameras)], SMALL
        )
        self.managers: dict[str, Service] = {}
        self.monitor: subprocess.Popen[bytes] | None = None
        self.killed_at: dict[str, float] = {}

    def import_cameras(self) -> None:
        import_cameras(self.settings, URL, self.prefix)

    def start_manager(self, name: str, max_agents: int = 4) -> Service:
        flags = [
            *self.common,
            "--manager-id",
            name,
            "--max-agents",
            str(max_agents),
            "--lease-seconds",
            str(LEASE),
            "--reconcile-seconds",
            str(RECONCILE),
            "--heartbeat-seconds",
            "1",
            "--webrtc-host-addresses",
            "127.0.0.1",
        ]
        service = Service(self.settings, self.tmp / "recordings", *flags, command="manager")
        self.managers[name] = service.start()
        return service

    def start_monitor(self) -> None:
        self.monitor = start_monitor(self.settings, self.common, MONITOR, self.tmp / "monitor.log")

    def live(self) -> dict[str, Service]:
        return {n: m for n, m in self.managers.items() if n not in self.killed_at}

    def any_base(self) -> str:
        return next(iter(self.live().values())).base

    def state(self) -> dict[str, Any]:
        return request(self.any_base(), "GET", "/api/cluster")[1]  # type: ignore[no-any-return]

    def agents_of(self, name: str) -> set[str]:
        return set(self.managers[name].agents())

    def placement(self) -> dict[str, list[str]]:
        """camera -> the live managers actually running an agent for it (from each manager's own API)."""
        where: dict[str, list[str]] = {}
        for name in self.live():
            for cam in self.agents_of(name):
                where.setdefault(cam, []).append(name)
        return where

    def wait(self, predicate: Any, timeout: float, what: str) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if predicate():
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(f"timed out ({timeout} s) waiting for {what}: {self.state()} {self.placement()}")

    def kill9(self, name: str) -> None:
        self.managers[name].kill9()
        self.killed_at[name] = time.time()

    def stop(self) -> None:
        for name, service in self.managers.items():
            if name not in self.killed_at:
                service.stop()
        try:
            if self.monitor is not None:
                assert stop_monitor(self.monitor, self.tmp / "monitor.log") == 0
        finally:
            delete_prefix(URL, self.prefix)

    def records(self) -> list[dict[str, Any]]:
        events = []
        for service in self.managers.values():
            for line in service.log().splitlines():
                entry = json.loads(line)
                if entry.get("event") in ("agent_start", "agent_stop"):
                    events.append(entry)
        return events


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, cameras=10)
    yield c
    c.stop()


def ts(entry: dict[str, Any]) -> float:
    return (
        time.mktime(time.strptime(entry["ts"][:19], "%Y-%m-%dT%H:%M:%S"))
        - time.timezone
        + float("0" + entry["ts"][19:-1])
    )


def assert_never_ran_twice(cluster: Cluster) -> int:
    """From the start/stop records: per camera, ownership intervals never overlap and tokens only grow."""
    intervals: dict[str, list[tuple[float, float, int, str]]] = {}
    open_: dict[tuple[str, str, int], float] = {}
    for e in sorted(cluster.records(), key=ts):
        key = (e["camera"], e["manager"], e["token"])
        if e["event"] == "agent_start":
            assert key not in open_, f"started twice without a stop: {key}"
            open_[key] = ts(e)
        else:
            intervals.setdefault(e["camera"], []).append((open_.pop(key), ts(e), e["token"], e["manager"]))
    for (camera, manager, token), start in open_.items():  # killed managers never wrote their stops
        end = cluster.killed_at.get(manager, time.time())
        intervals.setdefault(camera, []).append((start, end, token, manager))
    for camera, spans in intervals.items():
        spans.sort()
        for (_, e1, t1, m1), (s2, _, t2, m2) in itertools.pairwise(spans):
            if (m1, t1) == (m2, t2):
                continue  # the same lease restarted by its own manager
            assert s2 >= e1, f"{camera} ran on {m1} (token {t1}) and {m2} (token {t2}) at once"
            assert t2 > t1, f"{camera}: token went from {t1} to {t2}"
    return sum(len(s) for s in intervals.values())


def test_cluster_failover_backlog_and_exclusion(cluster: Cluster) -> None:
    cluster.import_cameras()
    for name in ("m1", "m2", "m3", "m4"):
        cluster.start_manager(name)
    cluster.start_monitor()

    # every camera running, exactly once
    cluster.wait(lambda: len(cluster.placement()) == 10, 20, "10 cameras placed")
    placement = cluster.placement()
    assert all(len(where) == 1 for where in placement.values()), placement
    assert cluster.state()["owned"] == 10

    # one API from any pod: every manager lists every camera's agent once, with the manager running it;
    # one agent of a camera another pod runs comes from that pod, and its live view is relayed there
    owner_of = {cam: where[0] for cam, where in placement.items()}
    for name, service in cluster.live().items():
        body = service.get("/api/agents")
        assert body["unreachable"] == []
        assert {a["cameraId"]: a["manager"] for a in body["agents"]} == owner_of, name
        elsewhere = next(cam for cam, owner in owner_of.items() if owner != name)
        assert service.get(f"/api/agents/{elsewhere}")["manager"] == owner_of[elsewhere]
    name, service = next(iter(cluster.live().items()))
    elsewhere = next(cam for cam, owner in owner_of.items() if owner != name)
    decoded, ended = asyncio.run(watch_through(service.base, elsewhere))
    assert decoded >= 5, "a viewer through a pod that does not run the camera decoded too little"
    assert ended  # DELETE through that pod ended the owner's viewer
    assert cluster.managers[owner_of[elsewhere]].get(f"/api/cameras/{elsewhere}/viewers")["viewers"] == []
    with urllib.request.urlopen(f"{service.base}/api/cameras/{elsewhere}/snapshot.jpg", timeout=10) as resp:  # noqa: S310
        assert resp.headers["X-Vsn-Snapshot"] == "picture"  # its picture, from the pod that runs it
        assert resp.read(2) == b"\xff\xd8"
    # events live in Redis, not in one pod's SQLite: what one pod's agent stored, every pod lists
    shared = RedisEvents(URL, cluster.prefix)
    shared.add(Event("ev1", "cam03", "", 0.0, (0, 0, 0, 0), time.time(), None, "camera_offline", "gone"))
    shared.close()
    for service in cluster.live().values():
        (listed,) = service.get("/api/events?kind=health")["events"]
        assert (listed["id"], listed["cameraId"], listed["message"]) == ("ev1", "cam03", "gone")
    assert not list(cluster.tmp.rglob("events.db")), "a cluster keeps no SQLite events"

    # kill -9 the busiest manager: its cameras run elsewhere within lease + monitor period + 2 s
    victim = max(cluster.live(), key=lambda n: len(cluster.agents_of(n)))
    orphaned = cluster.agents_of(victim)
    cluster.kill9(victim)
    took = cluster.wait(
        lambda: set(cluster.placement()) >= set(placement) and not set(cluster.state()["unowned"]),
        LEASE + MONITOR + 2 + 5,
        "failover",
    )
    assert took <= LEASE + MONITOR + 2, f"failover of {sorted(orphaned)} took {took:.1f} s"
    assert all(len(where) == 1 for where in cluster.placement().values())

    # more cameras than slots: full managers take nothing, the backlog shows the rest
    base = cluster.any_base()
    for i in range(10, 14):
        status, _ = request(base, "POST", "/api/cameras", {"id": f"cam{i:02d}", "framerType": "random"})
        assert status == 201
    cluster.wait(
        lambda: cluster.state()["owned"] == 12 and cluster.state()["orphanBacklog"] == 2, 15, "backlog 2"
    )
    cluster.wait(  # managers announce their status once per reconcile period
        lambda: all(m["freeSlots"] == 0 for m in cluster.state()["managers"]), 2 * RECONCILE + 1, "all full"
    )
    state = cluster.state()
    assert len(state["managers"]) == 3
    assert len(state["unowned"]) == 2
    time.sleep(2 * MONITOR)
    assert cluster.state()["orphanBacklog"] == 2  # no duplicate requests pile up

    # exclude one camera: exactly that agent stops, and the freed slot takes the next orphan
    name = next(iter(cluster.live()))
    before = cluster.agents_of(name)
    excluded = sorted(before)[0]
    status, body = request(base, "PATCH", f"/api/cameras/{excluded}", {"excluded": True})
    assert status == 200
    assert body["state"] == "excluded"
    cluster.wait(lambda: excluded not in cluster.agents_of(name), RECONCILE + 2, "the excluded agent stops")
    cluster.wait(lambda: len(cluster.agents_of(name)) == 4, 10, "the freed slot is taken")
    after = cluster.agents_of(name)
    assert before - after == {excluded}, "another agent was stopped"
    # the request the freed slot took leaves the backlog once its agent started (acknowledged after it)
    cluster.wait(lambda: cluster.state()["orphanBacklog"] == 1, 5, "backlog 1")

    # re-include it and free a slot: it runs again
    assert request(base, "PATCH", f"/api/cameras/{excluded}", {"excluded": False})[0] == 200
    for cam in sorted(set(cluster.placement()) - {excluded})[:2]:
        assert request(base, "DELETE", f"/api/cameras/{cam}")[0] == 204
    cluster.wait(lambda: excluded in cluster.placement(), 15, "the re-included camera runs again")
    assert all(len(where) == 1 for where in cluster.placement().values())

    for service in cluster.live().values():
        assert service.terminate() == 0
    cluster.killed_at.update({n: time.time() for n in cluster.managers if n not in cluster.killed_at})
    assert assert_never_ran_twice(cluster) >= 14


def test_redis_unreachable_at_start_then_restarted_mid_run(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")  # not running yet
    prefix = unique_prefix()
    settings = write_settings(
        tmp_path / "settings", [{"id": f"r{i}", "framerType": "random"} for i in range(2)], SMALL
    )
    flags = [
        "--backend",
        "redis",
        "--redis-url",
        server.url,
        "--redis-prefix",
        prefix,
        "--lease-seconds",
        "5",
        "--reconcile-seconds",
        "1",
        "--monitor-seconds",
        "1",
        "--heartbeat-seconds",
        "1",
        "--manager-id",
        "solo",
    ]
    service = Service(settings, tmp_path / "recordings", *flags)
    try:
        with pytest.raises(RuntimeError):
            service.start(timeout=4)  # no API until Redis answers
        assert "redis unreachable at redis://127.0.0.1" in service.log()
        assert service.proc is not None
        assert service.proc.poll() is None, "it must keep retrying, not exit"
        server.start()
        import_cameras(settings, server.url, prefix)
        service.wait_for(lambda: _answers(service), 20, "API up once Redis answers")
        service.wait_for(
            lambda: len([a for a in service.agents().values() if a["healthy"]]) == 2, 20, "agents"
        )
        packets = {cid: a["counters"]["packets"] for cid, a in service.agents().items()}

        server.stop()  # Redis dies and comes back (its append-only file keeps the data)
        time.sleep(1)
        assert all(a["state"] == "running" for a in service.agents().values())
        # routes that need Redis answer 503 with Retry-After (not a 500 with a traceback)...
        for path in ("/api/cameras", "/api/cluster", "/api/cameras/r0"):
            status, body, headers = fetch(service.base + path)
            assert status == 503, (path, status, body)
            assert headers.get("Retry-After") == "5"
            assert "unreachable" in json.loads(body)["error"]
        # ...and /metrics still serves this process's figures, saying the backend is down
        status, text, _ = fetch(service.base + "/metrics")
        assert status == 200
        assert "vsnative_backend_up 0" in text
        assert 'vsnative_camera_recording{camera="r0"} 1' in text
        server.start()
        back = time.monotonic()
        # the first request after the outage succeeds (a pooled connection Redis closed is retried once)
        assert fetch(service.base + "/api/cameras")[0] == 200
        client = redis.Redis.from_url(server.url, decode_responses=True)
        beat = {cid: int(client.hget(f"{prefix}camera:{cid}", "lastHeartbeat") or 0) for cid in ("r0", "r1")}
        while time.monotonic() - back < 5 and any(
            int(client.hget(f"{prefix}camera:{cid}", "lastHeartbeat") or 0) <= beat[cid] for cid in beat
        ):
            time.sleep(0.1)
        resumed = time.monotonic() - back
        assert resumed < 2.5, f"heartbeats resumed {resumed:.1f} s after Redis came back"
        client.close()
        assert "vsnative_backend_up 1" in fetch(service.base + "/metrics")[1]
        time.sleep(1)
        agents = service.agents()
        assert all(a["healthy"] for a in agents.values())
        assert all(agents[cid]["counters"]["packets"] > packets[cid] for cid in packets)
        owners = redis.Redis.from_url(server.url, decode_responses=True).mget(
            [f"{prefix}owner:r0", f"{prefix}owner:r1"]
        )
        assert all(owner and str(owner).startswith("solo|") for owner in owners), owners
        assert '"event": "agent_stop"' not in service.log().replace('":"', '": "')
        assert service.terminate() == 0
    finally:
        service.stop()
        server.stop()


def fetch(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback test URL
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def _answers(service: Service) -> bool:
    try:
        service.get("/api/health")
    except OSError:
        return False
    return True
