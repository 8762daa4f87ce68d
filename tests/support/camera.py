"""Starts the fake IP camera (GStreamer's RTSP server under Debian's python3) as a subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

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
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, path: str, credentials: str | None = None) -> str:
        userinfo = f"{credentials}@" if credentials else ""
        return f"rtsp://{userinfo}127.0.0.1:{self.port}{path}"

    def command(self) -> list[str]:
        """The server's command line."""
        args = [SYSTEM_PYTHON, str(SCRIPT), "--port", str(self.port)]
        for path, spec in self.mounts.items():
            args += ["--mount", f"{path}={spec}"]
        if self.auth:
            args += ["--auth", self.auth]
        return args

    def start(self, timeout: float = 15.0) -> Self:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's stderr, read on failure
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log
        )
        try:
            self._wait_ready(self.proc, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        buffer = b""
        while time.monotonic() < deadline:
            buffer += proc.stdout.read() or b""
            if b"READY" in buffer:
                return
            if proc.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"fake camera exited: {self._log.read().decode(errors='replace')}")
            time.sleep(0.05)
        raise RuntimeError("fake camera did not start in time")

    def stop(self) -> None:
        """Kill the server we started (by its PID) and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self._log.close()
        self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
