"""Typed application keys: what the handlers may reach."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from vsnative.control.pool import AgentPool
from vsnative.control.store import FileCameraStore
from vsnative.settings import Settings


@dataclass
class Services:
    settings: Settings
    store: FileCameraStore
    pool: AgentPool
    started_at: float = field(default_factory=time.time)


SERVICES = web.AppKey("services", Services)
