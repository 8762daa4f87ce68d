"""A real Mosquitto broker started by a test, and a subscriber that records what it receives from a thread
of its own (for tests that drive a `vsnative serve` subprocess synchronously)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

import aiomqtt

from tests.support.camera import free_port


class Broker:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [binary, "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10  # listening before the test goes on
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise AssertionError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@dataclass(frozen=True)
class Message:
    at: float  # monotonic, when received
    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    """Subscribes to `topic` (wildcards allowed) on 127.0.0.1:`port` and keeps every message, in a thread."""

    def __init__(self, port: int, topic: str) -> None:
        self.port = port
        self.topic = topic
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Subscriber:
        self._thread.start()
        if not self._ready.wait(15):
            raise AssertionError(f"could not subscribe to {self.topic} on port {self.port}")
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)

    def _run(self) -> None:
        self._task = self._loop.create_task(self._receive())
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.close()

    async def _receive(self) -> None:
        for _ in range(100):  # the broker may still be starting
            try:
                async with aiomqtt.Client("127.0.0.1", self.port) as client:
                    await client.subscribe(self.topic, qos=1)
                    self._ready.set()
                    async for message in client.messages:
                        with self._lock:
                            self.messages.append(
                                Message(
                                    time.monotonic(),
                                    str(message.topic),
                                    bytes(message.payload),
                                    message.retain,
                                )
                            )
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def received(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, topic: str, payload: bytes | None, after: float, timeout: float) -> Message:
        """The first message on `topic` received after `after` (monotonic), with `payload` if given."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.received(topic):
                if message.at >= after and (payload is None or message.payload == payload):
                    return message
            time.sleep(0.05)
        raise AssertionError(f"no {payload!r} on {topic} within {timeout} s: {self.received(topic)}")
