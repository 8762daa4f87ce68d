"""Starts the fake IP camera (GStreamer's RTSP server under Debian's python3) as a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("rtsp_camera.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FakeCamera:
    """A GStreamer RTSP server on 127.0.0.1 serving `mounts` ({"/path": "file[,codec=..][,audio=..]"})."""

    def __init__(self, mounts: dict[str, str], auth: str | None = None, port: int | None = None) -> None:
        self.mounts = mounts
        self.auth = auth
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None

    def url(self, path: str, credentials: str | None = None) -> str:
        userinfo = f"{credentials}@" if credentials else ""
        return f"rtsp://{userinfo}127.0.0.1:{self.port}{path}"

    def start(self, timeout: float = 15.0) -> FakeCamera:
        args = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port)]
        for path, spec in self.mounts.items():
            args += ["--mount", f"{path}={spec}"]
        if self.auth:
            args += ["--auth", self.auth]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        buffer = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"fake camera exited: {err}")
            buffer += self.proc.stdout.read() or ""
            if "READY" in buffer:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("fake camera did not start in time")

    def stop(self) -> None:
        """Kill the server we started (by its PID) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> FakeCamera:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
