"""The alert bus: an event's messages (new, update, end) stored over each other with the best snapshot,
cooldown per label, bounded queue, webhooks that fail, recover or hang (against a local aiohttp
receiver)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiohttp import web

from vsnative.alerters.base import Alert
from vsnative.alerters.bus import AlertBus, AlertsConfig
from vsnative.alerters.snapshot import SnapshotAlerter, SnapshotConfig
from vsnative.alerters.webhook import WebhookAlerter, WebhookConfig
from vsnative.detectors.base import Detection
from vsnative.events import EventStore, new_event_id
from vsnative.tracking import EventType, ObjectEvent

IMAGE = np.full((120, 160, 3), 90, np.uint8)


def alert(
    label: str = "person",
    ts: float = 1000.0,
    kind: EventType = "new",
    event_id: str | None = None,
    image: np.ndarray | None = IMAGE,
    confidence: float = 0.9,
    end: float | None = None,
) -> Alert:
    """A message of a detection event, as the tracker makes it."""
    d = Detection(label, confidence, (0.1, 0.2, 0.5, 0.8))
    event = ObjectEvent(
        kind,
        event_id or new_event_id(),
        1,
        label,
        confidence,
        d.box,
        ts,
        end if end is not None else ts,
        end,
        end_reason="gone" if kind == "end" else None,
        image=image,
        detections=(d,) if image is not None else (),
    )
    return Alert("cam", "Front", event)


class Receiver:
    """A webhook endpoint that fails its first `failures` requests (or hangs), then answers 204."""

    def __init__(self, failures: int = 0, hang: bool = False) -> None:
        self.failures = failures
        self.hang = hang
        self.received: list[dict[str, Any]] = []
        self.attempts = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.hang:
            await asyncio.sleep(2)
        if self.attempts <= self.failures:
            return web.Response(status=503)
        self.received.append(await request.json())
        return web.Response(status=204)


async def drain(bus: AlertBus, seconds: float = 1.0) -> None:
    task = asyncio.create_task(bus.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_cooldown_keeps_an_event_from_the_alerters_but_not_from_the_store(
    tmp_path: Path, receiver_url: Any
) -> None:
    receiver = Receiver()
    hook = WebhookAlerter(WebhookConfig(url=await receiver_url(receiver)), tmp_path)
    events = EventStore(tmp_path / "events.db")
    bus = AlertBus(AlertsConfig(cooldownSeconds=30, queueSize=4), [hook], events)
    assert bus.publish(alert("person", 1000, event_id="p1"))
    assert bus.publish(alert("person", 1010, event_id="p2"))  # within 30 s: stored, not sent
    assert bus.publish(alert("car", 1010, event_id="c1"))  # another label
    assert bus.publish(alert("person", 1012, "end", "p2", end=1015))  # nor is its end
    assert not bus.publish(alert("dog", 1010))  # queue of 4 is full
    assert bus.stats() == {"events": 4, "published": 4, "suppressed": 1, "dropped": 1, "notices": 0}
    await drain(bus)
    assert [(p["eventId"], p["type"]) for p in receiver.received] == [("p1", "new"), ("c1", "new")]
    assert {e.id for e in events.query()} == {"p1", "p2", "c1"}
    assert bus.publish(alert("person", 1031, event_id="p3"))  # cooldown over
    await drain(bus)
    assert receiver.received[-1]["eventId"] == "p3"
    events.close()


async def test_an_events_life_is_one_stored_event_with_the_best_snapshot(
    tmp_path: Path, receiver_url: Any
) -> None:
    receiver = Receiver()
    hook = WebhookAlerter(WebhookConfig(url=await receiver_url(receiver)), tmp_path)
    events = EventStore(tmp_path / "events.db")
    bus = AlertBus(AlertsConfig(), [SnapshotAlerter(SnapshotConfig(), tmp_path), hook], events)
    bus.publish(alert(ts=1000, event_id="e1", confidence=0.6))
    await drain(bus)
    (started,) = events.query(camera="cam", in_progress=True)
    assert started.public()["inProgress"] is True
    assert started.snapshot is not None
    first = Path(started.snapshot).read_bytes()
    brighter = np.full((120, 160, 3), 200, np.uint8)
    bus.publish(alert(ts=1000, kind="update", event_id="e1", image=brighter, confidence=0.8))
    bus.publish(alert(ts=1000, kind="end", event_id="e1", image=None, confidence=0.8, end=1012.5))
    await drain(bus)
    (event,) = events.query(camera="cam")
    assert event.public()["inProgress"] is False
    assert (event.ts, event.end, event.confidence, event.end_reason) == (1000, 1012.5, 0.8, "gone")
    assert event.public()["duration"] == 12.5
    assert event.snapshot == started.snapshot  # the same file, written again with the better picture
    assert Path(event.snapshot).read_bytes() != first
    assert events.query(camera="cam", in_progress=True) == []
    assert [p["type"] for p in receiver.received] == ["new", "update", "end"]
    assert {p["eventId"] for p in receiver.received} == {"e1"}
    assert all(p["snapshotUrl"].endswith("/api/events/e1/snapshot.jpg") for p in receiver.received)
    assert receiver.received[-1]["end"] == 1012.5
    assert receiver.received[-1]["duration"] == 12.5
    events.close()


async def test_snapshot_and_event_are_persisted(tmp_path: Path) -> None:
    events = EventStore(tmp_path / "events.db")
    bus = AlertBus(AlertsConfig(), [SnapshotAlerter(SnapshotConfig(), tmp_path)], events)
    bus.publish(alert())
    await drain(bus)
    (event,) = events.query(camera="cam")
    assert event.label == "person"
    assert event.snapshot is not None
    snapshot = Path(event.snapshot)
    assert snapshot.parent == tmp_path / "cam" / "alerts"
    with av.open(str(snapshot)) as jpeg:
        frame = next(jpeg.decode(video=0))
        assert (frame.width, frame.height) == (160, 120)
    events.close()
    reopened = EventStore(tmp_path / "events.db")  # survives a restart
    assert reopened.get(event.id) == event
    assert reopened.query(label="car") == []
    assert reopened.query(start=999, end=1001)[0].id == event.id
    reopened.close()


async def test_webhook_that_fails_then_recovers_gets_the_alert(receiver_url: Any) -> None:
    receiver = Receiver(failures=2)
    hook = WebhookAlerter(
        WebhookConfig.model_validate({"url": await receiver_url(receiver), "retries": 3}), None
    )
    bus = AlertBus(AlertsConfig(), [hook], None)
    bus.publish(alert())
    await drain(bus, 4.0)
    assert receiver.attempts == 3
    (payload,) = receiver.received
    assert payload["cameraId"] == "cam"
    assert payload["cameraName"] == "Front"
    assert payload["label"] == "person"
    assert payload["box"] == [0.1, 0.2, 0.5, 0.8]
    assert payload["clipUrl"].endswith("/clip.mp4")
    assert hook.sent == 1
    assert hook.failed == 0


async def test_hanging_webhook_times_out_and_never_blocks_publishing(receiver_url: Any) -> None:
    receiver = Receiver(hang=True)
    config = WebhookConfig.model_validate(
        {"url": await receiver_url(receiver), "retries": 0, "timeoutSeconds": 0.5}
    )
    hook = WebhookAlerter(config, None)
    bus = AlertBus(AlertsConfig(cooldownSeconds=0), [hook], None)
    task = asyncio.create_task(bus.run())
    started = asyncio.get_running_loop().time()
    for i in range(5):
        bus.publish(alert(ts=1000 + i))  # returns at once, whatever the webhook does
    assert asyncio.get_running_loop().time() - started < 0.05
    await asyncio.sleep(1.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert hook.failed >= 2
    assert hook.sent == 0


def numpy_alert() -> Alert:
    """What the motion detector and numpy-computed boxes give: numpy numbers, not Python ones."""
    numbers: Any = (np.float32(0.875), (np.float32(0.1), np.float64(0.2), np.float32(0.5), np.float64(0.8)))
    d = Detection(np.str_("person"), *numbers)
    start: Any = np.float64(1000.5)
    event = ObjectEvent(
        "new", new_event_id(), 1, d.label, d.confidence, d.box, start, start, image=IMAGE, detections=(d,)
    )
    return Alert("cam", "Front", event)


async def test_numpy_numbers_reach_the_snapshot_the_event_store_and_the_webhook_as_plain_data(
    tmp_path: Path, receiver_url: Any
) -> None:
    receiver = Receiver()
    hook = WebhookAlerter(WebhookConfig.model_validate({"url": await receiver_url(receiver)}), None)
    events = EventStore(tmp_path / "events.db")
    bus = AlertBus(AlertsConfig(), [SnapshotAlerter(SnapshotConfig(), tmp_path), hook], events)
    bus.publish(numpy_alert())
    await drain(bus)
    (payload,) = receiver.received
    assert payload["label"] == "person"
    assert payload["confidence"] == 0.875
    assert payload["box"] == pytest.approx([0.1, 0.2, 0.5, 0.8], abs=1e-6)
    (event,) = events.query(camera="cam")
    assert event.snapshot is not None
    assert Path(event.snapshot).stat().st_size > 1000
    assert type(event.confidence) is float
    events.close()


async def test_links_are_absolute_with_the_public_url(tmp_path: Path, receiver_url: Any) -> None:
    receiver = Receiver()
    hook = WebhookAlerter(WebhookConfig(url=await receiver_url(receiver)), tmp_path)
    bus = AlertBus(AlertsConfig(), [hook], None, base_url="https://nvr.example.org/")
    assert bus.publish(alert("person", 1000))
    await drain(bus)
    (payload,) = receiver.received
    assert payload["clipUrl"] == f"https://nvr.example.org/api/events/{payload['eventId']}/clip.mp4"
