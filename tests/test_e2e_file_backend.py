"""`serve` on the embedded file backend: the cameras API, exclusion, concurrent writes, restart safety."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.service import Service, write_settings
from tests.test_e2e_cluster import SMALL, request

pytestmark = pytest.mark.slow
FAST = [
    "--reconcile-seconds",
    "1",
    "--monitor-seconds",
    "1",
    "--heartbeat-seconds",
    "0.3",
    "--lease-seconds",
    "3",
]


@pytest.fixture
def serve(tmp_path: Path) -> Any:
    started: list[Service] = []

    def make(cameras: list[dict[str, Any]]) -> Service:
        settings = tmp_path / "settings"
        if not (settings / "cameras.json").exists():
            write_settings(settings, cameras, SMALL)
        service = Service(settings, tmp_path / "recordings", *FAST).start()
        started.append(service)
        return service

    yield make
    for service in started:
        service.stop()


def running(service: Service) -> set[str]:
    return {cid for cid, a in service.agents().items() if a["state"] == "running"}


def test_cameras_api_and_exclusion(serve: Any, tmp_path: Path) -> None:
    service = serve([{"id": "a", "framerType": "random", "rtspUrl": "rtsp://admin:s3cret@10.0.0.9/live"}])
    base = service.base
    service.wait_for(lambda: running(service) == {"a"}, 15, "camera a running")

    status, body = request(
        base,
        "POST",
        "/api/cameras",
        {"id": "b", "framerType": "random", "name": "Yard", "rtspUrl": "rtsp://u:hunter2@10.0.0.8/x"},
    )
    assert status == 201
    assert body["name"] == "Yard"
    assert "rtspUrl" not in body
    service.wait_for(lambda: running(service) == {"a", "b"}, 15, "new camera b runs")

    # errors: JSON with a reason, never a traceback
    assert request(base, "POST", "/api/cameras", {"id": "b"})[0] == 409
    status, body = request(base, "POST", "/api/cameras", {"id": "../x", "excluded": "maybe"})
    assert status == 400
    assert {f["field"] for f in body["fields"]} == {"id", "excluded"}
    assert request(base, "PATCH", "/api/cameras/nope", {"name": "x"})[0] == 404
    assert request(base, "PATCH", "/api/cameras/a", {"lastHeartbeat": 5})[0] == 400
    assert request(base, "PUT", "/api/cameras/a", {"id": "z"})[0] == 400
    assert request(base, "GET", "/api/cameras/nope") == (404, {"error": "no camera 'nope'", "status": 404})

    # PATCH keeps the secret URL it never showed; PUT without rtspUrl keeps it too
    assert request(base, "PATCH", "/api/cameras/a", {"name": "Gate"})[0] == 200
    assert request(base, "PUT", "/api/cameras/b", {"framerType": "random", "name": "Yard 2"})[0] == 200
    stored = {c["id"]: c for c in json.loads((tmp_path / "settings" / "cameras.json").read_text())}
    assert stored["a"]["rtspUrl"] == "rtsp://admin:s3cret@10.0.0.9/live"
    assert stored["b"]["rtspUrl"] == "rtsp://u:hunter2@10.0.0.8/x"
    assert (stored["a"]["name"], stored["b"]["name"]) == ("Gate", "Yard 2")

    listing = json.dumps(request(base, "GET", "/api/cameras")[1])
    assert "s3cret" not in listing
    assert "hunter2" not in listing

    # exclude: that agent stops within a reconcile period, the other keeps running; include: it runs again
    service.wait_for(lambda: running(service) == {"a", "b"}, 15, "both running after the changes")
    started = time.monotonic()
    assert request(base, "PATCH", "/api/cameras/b", {"excluded": True})[0] == 200
    service.wait_for(lambda: "b" not in service.agents(), 3, "b stops")
    assert time.monotonic() - started < 1 + 2
    assert running(service) == {"a"}
    assert request(base, "PATCH", "/api/cameras/b", {"excluded": False})[0] == 200
    service.wait_for(lambda: running(service) == {"a", "b"}, 15, "b runs again")

    assert request(base, "DELETE", "/api/cameras/b")[0] == 204
    service.wait_for(lambda: "b" not in service.agents(), 3, "deleted camera stops")
    assert service.terminate() == 0
    assert "s3cret" not in service.log()
    assert "hunter2" not in service.log()


def test_concurrent_api_writes_and_heartbeats_lose_nothing(serve: Any, tmp_path: Path) -> None:
    service = serve([{"id": f"c{i}", "framerType": "random"} for i in range(4)])
    service.wait_for(lambda: len(running(service)) == 4, 20, "cameras running")
    errors: list[Any] = []

    def rename(i: int) -> None:
        for n in range(10):
            status, _ = request(service.base, "PATCH", f"/api/cameras/c{i}", {"name": f"cam {i} v{n}"})
            if status != 200:
                errors.append(status)

    threads = [threading.Thread(target=rename, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    time.sleep(1)  # heartbeats go on writing the same file
    stored = {c["id"]: c for c in json.loads((tmp_path / "settings" / "cameras.json").read_text())}
    assert [stored[f"c{i}"]["name"] for i in range(4)] == [f"cam {i} v9" for i in range(4)]
    assert all(stored[f"c{i}"]["lastHeartbeat"] > 0 for i in range(4))
    assert all(stored[f"c{i}"]["agentId"] for i in range(4))

    # PUTs of one new camera at once: one creates it (201), the others replace it (200), none fails
    statuses: list[int] = []
    start = threading.Barrier(6, timeout=10)

    def put(n: int) -> None:
        start.wait()
        statuses.append(
            request(service.base, "PUT", "/api/cameras/new", {"framerType": "random", "name": f"n{n}"})[0]
        )

    threads = [threading.Thread(target=put, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [200] * 5 + [201]


def test_restart_runs_every_camera_again(serve: Any, tmp_path: Path) -> None:
    cameras = [{"id": f"c{i}", "framerType": "random"} for i in range(3)] + [
        {"id": "off", "framerType": "random", "excluded": True}
    ]
    first = serve(cameras)
    first.wait_for(lambda: len(running(first)) == 3, 20, "cameras running")
    ids = {c["id"]: c["agentId"] for c in json.loads((tmp_path / "settings" / "cameras.json").read_text())}
    assert first.terminate() == 0
    second = serve(cameras)
    second.wait_for(lambda: running(second) == {"c0", "c1", "c2"}, 20, "cameras running after a restart")
    assert "off" not in second.agents()
    time.sleep(1)
    after = {c["id"]: c["agentId"] for c in json.loads((tmp_path / "settings" / "cameras.json").read_text())}
    assert all(after[f"c{i}"] and after[f"c{i}"] != ids[f"c{i}"] for i in range(3))  # new agents took over


def test_a_first_run_creates_the_working_file_from_the_sample_and_leaves_the_checkout_as_it_was(
    tmp_path: Path,
) -> None:
    """The shipped settings as a fresh clone has them (the sample, no cameras.json): `serve` creates
    cameras.json from the sample and writes its bookkeeping there, never into the tracked sample, and its
    log names no camera address (the sample's synthetic cameras have none)."""
    shipped = Path(__file__).resolve().parents[1] / "settings"
    settings = tmp_path / "settings"
    settings.mkdir()
    for name in ("cameras.sample.json", "pipeline.json"):
        (settings / name).write_bytes((shipped / name).read_bytes())
    sample = (settings / "cameras.sample.json").read_bytes()
    service = Service(settings, tmp_path / "recordings", *FAST).start()
    try:
        service.wait_for(lambda: running(service) == {"camera_1", "camera_2"}, 20, "the sample's cameras run")
        working = settings / "cameras.json"
        service.wait_for(
            lambda: all(c["lastHeartbeat"] > 0 for c in json.loads(working.read_text())), 15, "a heartbeat"
        )
    finally:
        service.stop()
    assert (settings / "cameras.sample.json").read_bytes() == sample
    assert {c["id"] for c in json.loads(working.read_text())} == {"camera_1", "camera_2"}
    log = service.log()
    assert "created" in log
    assert "cameras.sample.json" in log
    assert "rtsp://" not in log
    assert "192.168" not in log
    assert "starting for camera camera_1 (framer random)" in log


def test_git_ignores_the_working_cameras_file() -> None:
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        ["git", "-C", str(root), "check-ignore", "-q", "settings/cameras.json"], check=False, timeout=30
    )
    assert ignored.returncode == 0, "settings/cameras.json must be ignored: serve writes it"
    tracked = subprocess.run(
        ["git", "-C", str(root), "ls-files", "settings"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "settings/cameras.sample.json" in tracked.stdout.split()
    assert "settings/cameras.json" not in tracked.stdout.split()
