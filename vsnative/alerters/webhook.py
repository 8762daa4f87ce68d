"""`webhook` alerter: POST each alert and each camera health event as JSON (`kind` tells them apart), with
a timeout and bounded retries; never blocks detection."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from vsnative.alerters.base import ALERTERS, Alert, Alerter
from vsnative.backoff import Backoff
from vsnative.health_events import Notice
from vsnative.log import redact

log = logging.getLogger(__name__)


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook"] = "webhook"
    url: HttpUrl
    timeoutSeconds: float = Field(5.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    headers: dict[str, str] = Field(default_factory=dict)


@ALERTERS.register("webhook")
class WebhookAlerter(Alerter):
    config_model = WebhookConfig
    config: WebhookConfig

    def __init__(self, config: WebhookConfig, recordings_dir: object) -> None:
        super().__init__(config, recordings_dir)
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0
        self.failed = 0

    async def send(self, alert: Alert) -> None:
        await self._post(alert.payload())

    async def notify(self, notice: Notice) -> None:
        if notice.announce:
            await self._post(notice.payload())

    async def _post(self, payload: dict[str, Any]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeoutSeconds)
            )
        backoff = Backoff(0.5, 5.0)
        url = str(self.config.url)
        for attempt in range(self.config.retries + 1):
            try:
                async with self._session.post(url, json=payload, headers=self.config.headers) as resp:
                    if resp.status < 300:
                        self.sent += 1
                        return
                    reason = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if attempt < self.config.retries:
                await asyncio.sleep(backoff.next_delay())
        self.failed += 1
        log.warning("webhook %s failed after %d tries: %s", redact(url), self.config.retries + 1, reason)

    async def close(self) -> None:
        """Release the connection pool; the next alert opens a new one (a bus restarted by its guard
        closes its alerters first: before, every webhook after that failed with "Session is closed")."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()
