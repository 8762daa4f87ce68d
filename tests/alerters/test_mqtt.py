"""The mqtt alerter through real Mosquitto brokers: events and retained state, and a broker restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiomqtt
import pytest

from tests.alerters.test_bus import alert, numpy_alert
from tests.support.camera import free_port
from vsnative.alerters.mqtt import MqttAlerter, MqttConfig


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


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker()
    b.start()
    yield b
    b.stop()


async def connected(port: int) -> aiomqtt.Client:
    for _ in range(50):
        client = aiomqtt.Client("127.0.0.1", port)
        with contextlib.suppress(aiomqtt.MqttError):
            await client.__aenter__()
            return client
        await asyncio.sleep(0.1)
    raise AssertionError("broker did not come up")


async def receive(client: aiomqtt.Client, count: int, wait: float = 10) -> list[tuple[str, Any, bool]]:
    got: list[tuple[str, Any, bool]] = []

    async def collect() -> None:
        async for message in client.messages:
            got.append((str(message.topic), json.loads(bytes(message.payload)), message.retain))
            if len(got) >= count:
                return

    await asyncio.wait_for(collect(), wait)
    return got


@pytest.fixture
async def alerter(broker: Broker) -> AsyncIterator[MqttAlerter]:
    a = MqttAlerter(MqttConfig(port=broker.port), None)
    yield a
    await a.close()


async def test_event_and_retained_state(broker: Broker, alerter: MqttAlerter) -> None:
    sub = await connected(broker.port)
    await sub.subscribe("vsnative/cam/#", qos=1)
    first = alert("person", 1000.0)
    first.event_id = "e1"
    await alerter.send(first)
    got = await receive(sub, 2)
    await sub.__aexit__(None, None, None)
    topics = {topic: (payload, retained) for topic, payload, retained in got}
    assert topics["vsnative/cam/events"][0]["label"] == "person"
    assert topics["vsnative/cam/events"][0]["eventId"] == "e1"
    assert topics["vsnative/cam/state"][0]["lastEvent"]["eventId"] == "e1"
    late = await connected(broker.port)  # a client that connects later still sees the retained state
    await late.subscribe("vsnative/cam/state", qos=1)
    ((_, payload, retained),) = await receive(late, 1)
    await late.__aexit__(None, None, None)
    assert retained
    assert payload["lastEvent"]["label"] == "person"


async def test_alerts_survive_a_broker_restart(broker: Broker, alerter: MqttAlerter) -> None:
    await alerter.send(alert("person", 1000.0))
    for _ in range(50):
        if alerter.published >= 1:
            break
        await asyncio.sleep(0.1)
    assert alerter.published == 1
    broker.stop()
    await asyncio.sleep(0.3)
    await alerter.send(alert("car", 1001.0))  # the broker is down: queued, never raised
    broker.start()
    for _ in range(100):  # published counts PUBACKed (QoS 1) messages only
        if alerter.published >= 2:
            break
        await asyncio.sleep(0.1)
    assert alerter.published == 2
    assert alerter.dropped == 0


async def test_a_detection_holding_numpy_numbers_is_published(broker: Broker, alerter: MqttAlerter) -> None:
    """The motion detector's boxes are numpy.float64, which orjson refuses: the alerter's task died on
    the first motion event and nothing reached the broker."""
    sub = await connected(broker.port)
    await sub.subscribe("vsnative/cam/events", qos=1)
    await alerter.send(numpy_alert())
    ((_, payload, _),) = await receive(sub, 1)
    await sub.__aexit__(None, None, None)
    assert payload["label"] == "person"
    assert payload["box"] == pytest.approx([0.1, 0.2, 0.5, 0.8], abs=1e-6)
