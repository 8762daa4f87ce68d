"""The alert bus of one camera: the messages of its detection events (new, update, end), a bounded queue
(dropped messages counted), then for each the snapshot (when the best picture changed), the stored event,
and the other alerters, in that order. A label's cooldown keeps an event from being sent (it is still
stored, with its snapshot) when it starts within `cooldownSeconds` of the last one sent. Camera health
events (`Notice`) and the per-label counts of objects in view (`Counts`) take the same queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vsnative import telemetry
from vsnative.alerters.base import Alert, Alerter, Counts
from vsnative.alerters.snapshot import SnapshotAlerter
from vsnative.events import Event, Events, new_event_id
from vsnative.health_events import DETECTION, Notice
from vsnative.parts import PartState

log = logging.getLogger(__name__)


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cooldownSeconds: float = Field(
        0.0,
        ge=0,
        description="an event starting this soon after the last one of its label that was sent is stored "
        "but not sent (none of its messages)",
    )
    queueSize: int = Field(64, ge=1)


class AlertBus:
    def __init__(
        self, config: AlertsConfig, alerters: list[Alerter], events: Events | None, base_url: str = ""
    ) -> None:
        """`base_url`: the service's public address; alert links (snapshot, clip) are absolute with it."""
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.alerters = alerters
        self.events = events
        self._queue: asyncio.Queue[Alert | Notice | Counts] = asyncio.Queue(config.queueSize)
        self._last: dict[str, float] = {}  # label: start of its last event sent
        self._muted: set[str] = set()  # events in progress that the cooldown keeps from the alerters
        self._snapshots: dict[str, str] = {}  # events in progress: their snapshot file
        self.published = 0  # event messages taken
        self.started = 0  # events started
        self.suppressed = 0  # events the cooldown kept from the alerters
        self.dropped = 0  # the queue was full
        self._dropped_logged = 0  # drops when the last spell of them was logged
        self.notices = 0  # health events offered

    def publish(self, alert: Alert) -> bool:
        """Offer a detection event's message (never waits); False when the queue was full (counted in
        `dropped`; logged at the first of a spell: an `end` lost leaves the event in progress until the
        agent starts again, which ends it)."""
        if alert.type == "new":
            self.started += 1
            label = alert.detection.label
            last = self._last.get(label)
            if last is not None and alert.timestamp - last < self.config.cooldownSeconds:
                self._muted.add(alert.event_id)
                self.suppressed += 1
            else:
                self._last[label] = alert.timestamp
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            if self.dropped == self._dropped_logged:
                log.error("camera %s: event messages dropped: the alert queue is full", alert.camera_id)
            self.dropped += 1
            return False
        self._dropped_logged = self.dropped
        self.published += 1
        return True

    def count(self, counts: Counts) -> bool:
        """Offer the objects in view per label (never waits); False when the queue was full."""
        try:
            self._queue.put_nowait(counts)
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        return True

    async def drain(self) -> None:
        """Until every message taken has been delivered (the caller bounds the wait): an agent that stops
        sends the `end` of its events before it goes."""
        await self._queue.join()

    def notify(self, notice: Notice) -> bool:
        """Offer a health event (never waits); False when the queue was full (counted in `dropped`, and
        logged: a health event lost is a failure of its own)."""
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("camera %s: %s not sent: the alert queue is full", notice.camera_id, notice.kind)
            return False
        if notice.announce:
            log.warning("camera %s: %s: %s", notice.camera_id or "-", notice.kind, notice.message)
        self.notices += 1
        return True

    async def run(self) -> None:
        """Deliver alerts until cancelled."""
        try:
            while True:
                item = await self._queue.get()
                try:
                    if isinstance(item, Notice):
                        await self._deliver_notice(item)
                    elif isinstance(item, Counts):
                        counting = (self._send(a, item.camera_id, a.count(item)) for a in self.alerters)
                        await asyncio.gather(*counting)
                    else:
                        await self._deliver(item)
                finally:
                    self._queue.task_done()
        finally:
            for alerter in self.alerters:
                with contextlib.suppress(Exception):
                    await alerter.close()

    async def _deliver(self, alert: Alert) -> None:
        attributes: telemetry.Attributes = {
            "camera.id": alert.camera_id,
            "type": alert.type,
            "label": alert.detection.label,
            "confidence": round(alert.detection.confidence, 4),
        }
        with telemetry.span("alert", attributes):
            await self._deliver_now(alert)

    async def _deliver_now(self, alert: Alert) -> None:
        event_id = alert.event_id
        base = self.base_url
        alert.links = {
            "snapshotUrl": f"{base}/api/events/{event_id}/snapshot.jpg",
            "clipUrl": f"{base}/api/events/{event_id}/clip.mp4",
        }
        local = [a for a in self.alerters if isinstance(a, SnapshotAlerter)]
        remote = [a for a in self.alerters if not isinstance(a, SnapshotAlerter)]
        if alert.image is not None:  # a better picture: the snapshot is written (again)
            for alerter in local:
                await self._send(alerter, alert.camera_id, alerter.send(alert))
        if alert.snapshot is not None:
            self._snapshots[event_id] = alert.snapshot
        alert.snapshot = self._snapshots.get(event_id)
        if alert.snapshot is None:
            alert.links.pop("snapshotUrl")
        if self.events is not None:
            await asyncio.to_thread(self.events.add, stored(alert))
        if event_id not in self._muted:
            await asyncio.gather(*(self._send(a, alert.camera_id, a.send(alert)) for a in remote))
        if alert.type == "end":
            self._snapshots.pop(event_id, None)
            self._muted.discard(event_id)

    async def _deliver_notice(self, notice: Notice) -> None:
        if notice.announce:
            notice.event_id = new_event_id()
            if self.events is not None:
                await asyncio.to_thread(self.events.add, Event.of_notice(notice))
        await asyncio.gather(*(self._send(a, notice.camera_id, a.notify(notice)) for a in self.alerters))

    @staticmethod
    async def _send(alerter: Alerter, camera_id: str | None, sending: Awaitable[None]) -> None:
        """One alerter's delivery; whatever it raises stays in it (marked failed, logged with the
        traceback)."""
        part = alerter.part
        try:
            await sending
        except Exception as exc:  # an alerter's bug must not stop the others or the bus
            if part is None:
                log.exception("alerter %s failed for camera %s", type(alerter).__name__, camera_id)
            else:
                part.fail(exc)
        else:
            if part is not None and part.state == PartState.FAILED and not part.retry_at:
                part.set(PartState.RUNNING)

    def stats(self) -> dict[str, Any]:
        return {
            "events": self.started,
            "published": self.published,
            "suppressed": self.suppressed,
            "dropped": self.dropped,
            "notices": self.notices,
        }


def stored(alert: Alert) -> Event:
    """The event as the store keeps it after this message."""
    e = alert.event
    return Event(
        e.event_id,
        alert.camera_id,
        e.label,
        e.confidence,
        e.box,
        e.start,
        alert.snapshot,
        DETECTION,
        None,
        e.end,
        e.last_seen,
        e.object_id,
        e.zones,
        e.stationary,
        e.end_reason,
    )
