"""agents-monitor: every period, cameras that are not excluded and have no live agent (no lease) or a
stale heartbeat become orphan requests, a bounded number per period, never two for one camera."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from vsnative import cancellation
from vsnative.control.leases import Leases
from vsnative.control.orphans import OrphanQueue
from vsnative.control.outage import BACKEND_ERRORS
from vsnative.control.store import CameraStore
from vsnative.models import Camera

log = logging.getLogger(__name__)


@dataclass
class MonitorConfig:
    period_seconds: float = 10.0
    stale_seconds: float = 300.0
    max_per_period: int = 100


def needs_agent(camera: Camera, leased: bool, now: float, stale_seconds: float) -> bool:
    """Not excluded, and nobody holds it or its agent has not reported healthy for `stale_seconds`."""
    if camera.excluded:
        return False
    if not leased:
        return True
    return now - max(camera.lastHeartbeat, camera.startupTime) > stale_seconds


class AgentsMonitor:
    def __init__(self, config: MonitorConfig, store: CameraStore, leases: Leases, queue: OrphanQueue) -> None:
        self.config = config
        self.store = store
        self.leases = leases
        self.queue = queue
        self.published = 0

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
            except BACKEND_ERRORS as exc:
                log.warning(
                    "monitor: backend unreachable (%s); next sweep in %.0f s", exc, self.config.period_seconds
                )
            await cancellation.sleep(self.config.period_seconds)

    async def sweep(self) -> list[str]:
        """Publish orphan requests; return the camera ids published this time."""
        cameras = await self.store.list_cameras()
        held = await self.leases.holders([c.id for c in cameras])
        now = time.time()
        published: list[str] = []
        for camera in cameras:
            if len(published) >= self.config.max_per_period:
                break
            if needs_agent(
                camera, camera.id in held, now, self.config.stale_seconds
            ) and await self.queue.publish(camera.id):
                published.append(camera.id)
        if published:
            self.published += len(published)
            log.info("monitor: %d orphan requests: %s", len(published), ", ".join(published))
        return published
