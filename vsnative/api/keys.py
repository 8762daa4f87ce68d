"""Typed application keys: what the handlers may reach."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from vsnative.api.spec import Operation
from vsnative.clips import ClipIndex
from vsnative.control.leases import Leases
from vsnative.control.orphans import OrphanQueue
from vsnative.control.outage import OutageLog
from vsnative.control.pool import AgentPool
from vsnative.control.store import CameraStore
from vsnative.events import Events
from vsnative.settings import Settings
from vsnative.supervisor import Supervisor
from vsnative.vod import Playlists

if TYPE_CHECKING:
    from vsnative.control.manager import AgentsManager, Registry


@dataclass
class Services:
    settings: Settings
    store: CameraStore
    pool: AgentPool
    manager: AgentsManager | None
    queue: OrphanQueue
    registry: Registry
    leases: Leases
    events: Events | None = None
    supervisor: Supervisor | None = None  # the process's roles, for /api/health
    started_at: float = field(default_factory=time.time)
    clips: ClipIndex = field(init=False)  # the recorded clips by time, days kept while unchanged
    playlists: Playlists = field(init=False)  # HLS playlists over them, whole days' texts kept

    def __post_init__(self) -> None:
        self.clips = ClipIndex(self.settings.recordings_dir)
        self.playlists = Playlists(self.clips)


SERVICES = web.AppKey("services", Services)
OUTAGE = web.AppKey("outage", OutageLog)  # requests turned away while the backend is unreachable
# what every route takes and answers (spec.ApiRoutes), by (method, path): the OpenAPI document's source
OPERATIONS: web.AppKey[Mapping[tuple[str, str], Operation]] = web.AppKey("operations")
