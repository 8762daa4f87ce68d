"""Runs `python -m vsnative serve` as a subprocess on a settings folder made by the test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.camera import free_port


def write_settings(
    folder: Path, cameras: list[dict[str, Any]], pipeline: dict[str, Any] | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for cam in cameras:
        record = {
            "id": cam["id"],
            "vmsId": cam.get("vmsId", ""),
            "name": cam.get("name", cam["id"]),
            "rtspUrl": cam.get("rtspUrl", ""),
            "framerType": cam.get("framerType", "rtsp"),
            "excluded": cam.get("excluded", False),
            "agentId": "",
            "startupTime": 0,
            "lastHeartbeat": 0,
            "uptime": 0,
        }
        records.append(record)
    (folder / "cameras.json").write_text(json.dumps(records, indent=2) + "\n")
    if pipeline is not None:
        (folder / "pipeline.json").write_text(json.dumps(pipeline, indent=2))
    return folder


def start_monitor(
    settings: Path, backend: list[str], period: float, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """`vsnative monitor` on `backend` (its --backend... flags) every `period` s; output to `log`."""
    command = [sys.executable, "-m", "vsnative", "monitor", "--settings-dir", str(settings), *backend]
    command += ["--monitor-seconds", str(period)]
    if log is None:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def stop_monitor(proc: subprocess.Popen[bytes], log: Path | None, seconds: float = 20.0) -> int:
    """SIGTERM the monitor and wait `seconds` for it (it stops in under a second; an orchestrator kills
    with -9 after 30 s). One still running then is killed, never left behind, and the test fails with
    the end of its log (a hung shutdown logs the stack of what it waits for)."""
    proc.terminate()
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        tail = log.read_text(errors="replace")[-4000:] if log is not None else "(no log)"
        raise AssertionError(
            f"the monitor ran on {seconds:.0f} s after SIGTERM; its log ends:\n{tail}"
        ) from None


class Service:
    """A vsnative serve process; logs go to a file the test can read."""

    def __init__(
        self,
        settings_dir: Path,
        recordings_dir: Path,
        *extra: str,
        env: dict[str, str] | None = None,
        command: str = "serve",
        code: Path | None = None,
    ) -> None:
        """`code`: a checkout whose vsnative package runs instead of this one (benchmarks compare two)."""
        self.command = command
        self.code = code
        self.settings_dir = settings_dir
        self.recordings_dir = recordings_dir
        self.port = free_port()
        self.extra = extra
        self.env = env or {}
        self.log_path = recordings_dir.parent / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vsnative",
                self.command,
                "--settings-dir",
                str(self.settings_dir),
                "--recordings-dir",
                str(self.recordings_dir),
                "--port",
                str(self.port),
                *self.extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.code,  # `python -m` imports the package of its working directory first
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}: {self.log()}")
            with contextlib.suppress(OSError):
                self.get("/api/health")
                return self
            time.sleep(0.2)
        raise RuntimeError(f"serve did not answer in time: {self.log()}")

    def get(self, path: str) -> Any:
        """GET a JSON answer (with the service's bearer token when it has one)."""
        token = self.env.get("VSN_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token and path != "/api/health" else {}
        request = urllib.request.Request(self.base + path, headers=headers)  # noqa: S310 - loopback test URL
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - loopback test URL
            return json.loads(resp.read())

    def agents(self) -> dict[str, dict[str, Any]]:
        """This process's own agents, by camera."""
        return {a["cameraId"]: a for a in self.get("/api/agents?scope=local")["agents"]}

    def wait_for(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; agents: {self.agents()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.terminate(20)
            if self.proc.poll() is None:
                self.kill9()
