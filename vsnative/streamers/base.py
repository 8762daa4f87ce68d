"""Streamer plugin kind: a consumer of a camera's packets with its own bounded subscription."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from vsnative.alerters.bus import AlertBus
from vsnative.counters import AgentCounters
from vsnative.media.clip import ClipInfo
from vsnative.media.fanout import Subscription
from vsnative.models import Camera
from vsnative.registry import Registry


@dataclass
class StreamerContext:
    """What the agent lends its streamers."""

    camera: Camera
    recordings_dir: Path
    io_executor: Executor
    counters: AgentCounters
    detect_executor: Executor | None = None  # the bounded pool for decoding and inference
    alerts: AlertBus | None = None
    clip_listeners: list[Callable[[str, ClipInfo], None]] = field(default_factory=list)


class Streamer(ABC):
    """Consumes a Subscription until the framer ends the stream. Subclasses declare `config_model`."""

    config_model: ClassVar[type[BaseModel]]
    queue_packets: int = 256  # the bounded queue of its subscription
    wake_after: int = 1  # wake the streamer once this many packets wait (batching streamers)

    def __init__(self, config: Any, context: StreamerContext) -> None:
        self.config = config
        self.context = context

    @abstractmethod
    async def run(self, subscription: Subscription) -> None:
        """Consume until the subscription ends; release everything on the way out (also when cancelled)."""


STREAMERS: Registry[Streamer] = Registry("streamer")
