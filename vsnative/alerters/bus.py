"""The alert bus of one camera: cooldown per label, a bounded queue (dropped alerts counted), then the
snapshot, the persisted event, and the other alerters, in that order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vsnative import telemetry
from vsnative.alerters.base import Alert, Alerter
from vsnative.alerters.snapshot import SnapshotAlerter
from vsnative.events import Event, EventStore
from vsnative.parts import PartState

log = logging.getLogger(__name__)


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cooldownSeconds: float = Field(30.0, ge=0)
    queueSize: int = Field(32, ge=1)


class AlertBus:
    def __init__(self, config: AlertsConfig, alerters: list[Alerter], events: EventStore | None) -> None:
        self.config = config
        self.alerters = alerters
        self.events = events
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(config.queueSize)
        self._last: dict[str, float] = {}
        self.published = 0
        self.suppressed = 0  # within the cooldown
        self.dropped = 0  # the queue was full

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

    async def run(self) -> None:
        """Deliver alerts until cancelled."""
        try:
            while True:
                await self._deliver(await self._queue.get())
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
        alert.event_id = EventStore.new_id()
        alert.links = {
            "snapshotUrl": f"/api/events/{alert.event_id}/snapshot.jpg",
            "clipUrl": f"/api/events/{alert.event_id}/clip.mp4",
        }
        local = [a for a in self.alerters if isinstance(a, SnapshotAlerter)]
        remote = [a for a in self.alerters if not isinstance(a, SnapshotAlerter)]
        for alerter in local:
            await self._send(alerter, alert)
        if alert.snapshot is None:
            alert.links.pop("snapshotUrl")
        if self.events is not None:
            d = alert.detection
            event = Event(
                alert.event_id, alert.camera_id, d.label, d.confidence, d.box, alert.timestamp, alert.snapshot
            )
            await asyncio.to_thread(self.events.add, event)
        await asyncio.gather(*(self._send(alerter, alert) for alerter in remote))

    @staticmethod
    async def _send(alerter: Alerter, alert: Alert) -> None:
        """One alerter; whatever it raises stays in it (marked failed, logged with the traceback)."""
        part = alerter.part
        try:
            await alerter.send(alert)
        except Exception as exc:  # an alerter's bug must not stop the others or the bus
            if part is None:
                log.exception("alerter %s failed for camera %s", type(alerter).__name__, alert.camera_id)
            else:
                part.fail(exc)
        else:
            if part is not None and part.state == PartState.FAILED and not part.retry_at:
                part.set(PartState.RUNNING)

    def stats(self) -> dict[str, Any]:
        return {"published": self.published, "suppressed": self.suppressed, "dropped": self.dropped}
