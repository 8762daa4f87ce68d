"""The mqtt alerter through real Mosquitto brokers: events and retained state, and a broker restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest

from tests.alerters.test_bus import alert, numpy_alert
from tests.support.mqtt import Broker
from vsnative.alerters.mqtt import MqttAlerter, MqttConfig
from vsnative.health_events import HealthKind, Notice


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
    first = alert("person", 1000.0, event_id="e1")
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


async def test_health_events_and_retained_availability(broker: Broker, alerter: MqttAlerter) -> None:
    """Home Assistant's availability_topic: a retained `online` / `offline`; health events go to the
    camera's events topic with their kind; a camera first seen sets availability and sends no event."""
    sub = await connected(broker.port)
    await sub.subscribe("vsnative/cam/#", qos=1)
    await alerter.notify(Notice(HealthKind.CAMERA_ONLINE, "cam", "video is back", announce=False))
    offline = Notice(HealthKind.CAMERA_OFFLINE, "cam", "camera unreachable", 1000.0, "Front", event_id="h1")
    await alerter.notify(offline)
    got: list[tuple[str, bytes, bool]] = []

    async def collect() -> None:
        async for message in sub.messages:
            got.append((str(message.topic), bytes(message.payload), message.retain))
            if len(got) >= 3:
                return

    await asyncio.wait_for(collect(), 10)
    await sub.__aexit__(None, None, None)
    assert [(t, p) for t, p, _ in got if t.endswith("/availability")] == [
        ("vsnative/cam/availability", b"online"),
        ("vsnative/cam/availability", b"offline"),
    ]
    events = [json.loads(p) for t, p, _ in got if t == "vsnative/cam/events"]
    assert events == [offline.payload()]
    assert events[0]["kind"] == "camera_offline"
    late = await connected(broker.port)  # a client connecting later reads the camera as offline
    await late.subscribe("vsnative/cam/availability", qos=1)
    message = await asyncio.wait_for(anext(aiter(late.messages)), 10)
    await late.__aexit__(None, None, None)
    assert message.retain
    assert bytes(message.payload) == b"offline"


async def test_service_events_go_to_the_service_topic(broker: Broker, alerter: MqttAlerter) -> None:
    sub = await connected(broker.port)
    await sub.subscribe("vsnative/service/events", qos=1)
    await alerter.notify(Notice(HealthKind.STORAGE_LOW, None, "0.5 GB free", event_id="s1"))
    ((topic, payload, _),) = await receive(sub, 1)
    await sub.__aexit__(None, None, None)
    assert topic == "vsnative/service/events"
    assert payload["kind"] == "storage_low"
    assert payload["cameraId"] is None


async def test_close_stops_the_connection_even_when_its_cancel_is_lost_in_a_publish(
    broker: Broker, alerter: MqttAlerter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() cancels the alerter's connection task just as a publish's wait_for completes: on Python
    3.11 the CancelledError is lost there (the publish returns as if nothing happened); the connection
    still ends, and close() returns."""
    real = aiomqtt.Client.publish
    closing: list[asyncio.Task[None]] = []

    async def acknowledged() -> None:  # done at its first step, as an awaited PUBACK that has arrived
        return None

    async def publish_as_close_lands(self: aiomqtt.Client, *args: Any, **kwargs: Any) -> None:
        await real(self, *args, **kwargs)
        if not closing:  # close() runs now: its cancel lands while the wait_for below completes
            closing.append(asyncio.create_task(alerter.close()))
            await asyncio.wait_for(acknowledged(), 5)

    monkeypatch.setattr(aiomqtt.Client, "publish", publish_as_close_lands)
    await alerter.send(alert("person", 1000.0, event_id="e1"))
    for _ in range(100):
        if closing:
            break
        await asyncio.sleep(0.05)
    assert closing, "the alert was not published"
    done, _ = await asyncio.wait(closing, timeout=5)
    assert done, "close() still waits for the connection 5 s later"
