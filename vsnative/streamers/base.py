"""Streamer plugin kind: a consumer of a camera's packets with its own bounded subscription."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from vsnative.alerters.bus import AlertBus
from vsnative.control.fence import Fence
from vsnative.counters import AgentCounters
from vsnative.media.clip import ClipInfo
from vsnative.media.fanout import FanOut, Subscription
from vsnative.media.packets import EncodedPacket
from vsnative.models import Camera
from vsnative.registry import Registry
from vsnative.webrtc.ice import IceSettings


@dataclass
class StreamerContext:
    """What the agent lends its streamers."""

    camera: Camera
    recordings_dir: Path
    io_executor: Executor
    counters: AgentCounters
    detect_executor: Executor | None = None  # the bounded pool for decoding and inference
    mux_executor: Executor | None = None  # the one thread that writes every camera's clips
    alerts: AlertBus | None = None
    clip_listeners: list[Callable[[str, ClipInfo], None]] = field(default_factory=list)
    fanout: FanOut | None = None  # for streamers that subscribe on demand (live viewers)
    ice: IceSettings | None = None  # ICE servers and candidate addresses for WebRTC peers
    fence: Fence | None = None  # the camera's lease: nothing is written once it has passed


class Streamer(ABC):
    """Consumes a Subscription until the framer ends the stream. Subclasses declare `config_model`."""

    config_model: ClassVar[type[BaseModel]]
    queue_packets: int = 256  # the bounded queue of its subscription

    def __init__(self, config: Any, context: StreamerContext) -> None:
        self.config = config
        self.context = context
        self.disabled: str | None = None  # why the streamer turned itself off (it cannot work as configured)

    @abstractmethod
    async def run(self, subscription: Subscription) -> None:
        """Consume until the subscription ends; release everything on the way out (also when cancelled)."""


class ThreadedStreamer(Streamer):
    """A streamer fed inside the framer's own thread, with no event-loop hop per packet (the recorder:
    measured 0.33 vs 0.42 CPU-s per stream-minute at 32 cameras). `offer` must be quick and never block.
    An `essential` one (the recorder) ends the session when it raises; any other is guarded (parts.py)."""

    essential = False

    @property
    def dropped(self) -> int:
        """Packets this streamer lost to its own bounded queue."""
        return 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called on the loop before any packet: where to post results."""
        self.loop = loop

    @abstractmethod
    def offer(self, packet: EncodedPacket) -> None:
        """One packet, in the framer's thread."""

    @abstractmethod
    def end_session(self) -> None:
        """The framer's thread has ended a session (on the loop): flush what waits, close what is open."""

    @abstractmethod
    async def finish(self) -> None:
        """The stream is over: flush, close and wait until everything is on disk."""

    async def run(self, subscription: Subscription) -> None:
        raise TypeError(f"{type(self).__name__} is fed by the framer thread, not by a subscription")


STREAMERS: Registry[Streamer] = Registry("streamer")
