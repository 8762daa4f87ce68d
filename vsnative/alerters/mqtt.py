"""`mqtt` alerter: each detection event's messages (`type`: new, update, end) and each camera health event
to `<prefix>/<cameraId>/events` (`kind` tells them apart; the service's own, storage_low, to
`<prefix>/service/events`); retained: the camera's last event message as `<prefix>/<cameraId>/state`, the
objects of each label in view as `<prefix>/<cameraId>/<label>` = `0`, `1`, `2`... (what Home Assistant
automations count), and its availability as `<prefix>/<cameraId>/availability` = `online` / `offline` (the
payloads Home Assistant's `availability_topic` expects). One connection per camera that reconnects when the
broker restarts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Literal

import aiomqtt
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from vsnative import cancellation
from vsnative.alerters.base import ALERTERS, Alert, Alerter, Counts
from vsnative.backoff import Backoff
from vsnative.health_events import Notice
from vsnative.parts import guarded

log = logging.getLogger(__name__)


class MqttConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["mqtt"] = "mqtt"
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    topicPrefix: str = "vsnative"
    qos: Literal[0, 1, 2] = 1
    queueSize: int = Field(100, ge=1)


@ALERTERS.register("mqtt")
class MqttAlerter(Alerter):
    config_model = MqttConfig
    config: MqttConfig

    def __init__(self, config: MqttConfig, recordings_dir: object) -> None:
        super().__init__(config, recordings_dir)
        self._queue: asyncio.Queue[Alert | Notice | Counts] = asyncio.Queue(config.queueSize)
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.dropped = 0

    async def send(self, alert: Alert) -> None:
        self._offer(alert, alert.camera_id)

    async def notify(self, notice: Notice) -> None:
        self._offer(notice, notice.camera_id or "service")

    async def count(self, counts: Counts) -> None:
        self._offer(counts, counts.camera_id)

    def _offer(self, item: Alert | Notice | Counts, camera_id: str) -> None:
        # the connection's own task: guarded like the alerter (cancelled in close)
        if self._task is None or self._task.done():
            run = self._run() if self.part is None else guarded(self.part, self._run)
            self._task = asyncio.create_task(run, name=f"mqtt-{camera_id}")
        if self._queue.full():  # the broker is away for long: keep the newest alerts
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    async def _run(self) -> None:
        backoff = Backoff(0.5, 10.0)
        cfg = self.config
        password = cfg.password.get_secret_value() if cfg.password else None
        pending: Alert | Notice | Counts | None = None
        while True:
            try:
                async with aiomqtt.Client(
                    cfg.host, cfg.port, username=cfg.username, password=password, timeout=5
                ) as client:
                    backoff.reset()
                    while True:
                        # close() cancels this task; aiomqtt waits for each publish through wait_for,
                        # which on Python 3.11 can lose that cancel: then it would wait here for ever
                        cancellation.check()
                        if pending is None:
                            pending = await self._queue.get()
                        await self._publish(client, pending)
                        pending = None  # sent; an alert that failed is sent first once reconnected
            except aiomqtt.MqttError as exc:
                delay = backoff.next_delay()
                log.warning("mqtt %s:%d unreachable (%s); retrying in %.1f s", cfg.host, cfg.port, exc, delay)
                await asyncio.sleep(delay)

    async def _publish(self, client: aiomqtt.Client, item: Alert | Notice | Counts) -> None:
        if isinstance(item, Notice):
            await self._publish_notice(client, item)
            return
        if isinstance(item, Counts):
            base = f"{self.config.topicPrefix}/{item.camera_id}"
            for label, count in sorted(item.counts.items()):
                topic = f"{base}/{label_topic(label)}"
                await client.publish(topic, str(count), qos=self.config.qos, retain=True)
            return
        alert = item
        base = f"{self.config.topicPrefix}/{alert.camera_id}"
        payload = orjson.dumps(alert.payload())
        await client.publish(f"{base}/events", payload, qos=self.config.qos)
        state = {"cameraId": alert.camera_id, "lastEvent": alert.payload()}
        await client.publish(f"{base}/state", orjson.dumps(state), qos=self.config.qos, retain=True)
        self.published += 1

    async def _publish_notice(self, client: aiomqtt.Client, notice: Notice) -> None:
        base = f"{self.config.topicPrefix}/{notice.camera_id or 'service'}"
        if notice.announce:
            await client.publish(f"{base}/events", orjson.dumps(notice.payload()), qos=self.config.qos)
            self.published += 1
        if notice.online is not None and notice.camera_id:
            availability = "online" if notice.online else "offline"
            await client.publish(f"{base}/availability", availability, qos=self.config.qos, retain=True)

    async def close(self) -> None:
        """Disconnect; the next message connects again (a bus restarted by its guard closes first)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def label_topic(label: str) -> str:
    """A label as one topic level: `/`, `+` and `#` (levels and wildcards) become `_` ("cell phone" keeps
    its space, as MQTT allows)."""
    return label.translate(str.maketrans("/+#", "___")) or "_"
