"""The alert bus of one camera: cooldown per label, a bounded queue (dropped alerts counted), then the
snapshot, the persisted event, and the other alerters, in that order. Camera health events (`Notice`) take
the same queue, with no cooldown: stored as events of their kind, then sent to every alerter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vsnative import telemetry
from vsnative.alerters.base import Alert, Alerter
from vsnative.alerters.snapshot import SnapshotAlerter
from vsnative.events import Event, Events, new_event_id
from vsnative.health_events import Notice
from vsnative.parts import PartState

log = logging.getLogger(__name__)


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cooldownSeconds: float = Field(30.0, ge=0)
    queueSize: int = Field(32, ge=1)


class AlertBus:
    def __init__(
        self, config: AlertsConfig, alerters: list[Alerter], events: Events | None, base_url: str = ""
    ) -> None:
        """`base_url`: the service's public address; alert links (snapshot, clip) are absolute with it."""
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.alerters = alerters
        self.events = events
        self._queue: asyncio.Queue[Alert | Notice] = asyncio.Queue(config.queueSize)
        self._last: dict[str, float] = {}
        self.published = 0
        self.suppressed = 0  # within the cooldown
        self.dropped = 0  # the queue was full
        self.notices = 0  # health events offered

    def publish(self, alert: Alert) -> bool:
        """Offer an alert (never waits); False when the cooldown or a full queue turned it away."""
        key = alert.detection.label
        last = self._last.get(key)
        if last is not None and alert.timestamp - last < self.config.cooldownSeconds:
            self.suppressed += 1
            return False
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        self._last[key] = alert.timestamp
        self.published += 1
        return True

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
                if isinstance(item, Notice):
                    await self._deliver_notice(item)
                else:
                    await self._deliver(item)
        finally:
            for alerter in self.alerters:
                with contextlib.suppress(Exception):
                    await alerter.close()

    async def _deliver(self, alert: Alert) -> None:
        attributes: telemetry.Attributes = {
            "camera.id": alert.camera_id,
            "label": alert.detection.label,
            "confidence": round(alert.detection.confidence, 4),
        }
        with telemetry.span("alert", attributes):
            await self._deliver_now(alert)

    async def _deliver_now(self, alert: Alert) -> None:
        alert.event_id = new_event_id()
        base = self.base_url
        alert.links = {
            "snapshotUrl": f"{base}/api/events/{alert.event_id}/snapshot.jpg",
            "clipUrl": f"{base}/api/events/{alert.event_id}/clip.mp4",
        }
        local = [a for a in self.alerters if isinstance(a, SnapshotAlerter)]
        remote = [a for a in self.alerters if not isinstance(a, SnapshotAlerter)]
        for alerter in local:
            await self._send(alerter, alert.camera_id, alerter.send(alert))
        if alert.snapshot is None:
            alert.links.pop("snapshotUrl")
        if self.events is not None:
            d = alert.detection
            event = Event(
                alert.event_id, alert.camera_id, d.label, d.confidence, d.box, alert.timestamp, alert.snapshot
            )
            await asyncio.to_thread(self.events.add, event)
        await asyncio.gather(*(self._send(a, alert.camera_id, a.send(alert)) for a in remote))

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
            "published": self.published,
            "suppressed": self.suppressed,
            "dropped": self.dropped,
            "notices": self.notices,
        }
