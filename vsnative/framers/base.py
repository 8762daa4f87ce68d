"""Framer plugin kind: opens a camera stream (blocking, in a worker thread) and yields packets."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel

from vsnative.errors import StreamError, StreamFailure
from vsnative.media.packets import EncodedPacket, StreamInfo
from vsnative.models import Camera
from vsnative.registry import Registry


class FramerSession(ABC):
    """One open connection to a camera. Every method blocks and runs in a worker thread."""

    info: StreamInfo

    @property
    def lost(self) -> int:
        """Pictures this session could not deliver whole (counted in the agent's drops)."""
        return 0

    @abstractmethod
    def read(self) -> EncodedPacket | None:
        """Next packet, or None for a skipped one. Raises StreamError when the stream fails or ends."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection (idempotent)."""


class Framer(ABC):
    """Opens sessions to one camera. Subclasses declare their pydantic `config_model`."""

    config_model: ClassVar[type[BaseModel]]

    def __init__(self, camera: Camera, config: Any) -> None:
        self.camera = camera
        self.config = config

    @property
    @abstractmethod
    def stall_seconds(self) -> float:
        """A session that delivers no video packet for this long is reconnected."""

    @abstractmethod
    def open(self, session: int) -> FramerSession:
        """Connect (blocking). Raises StreamError, with no credentials in its message."""


FRAMERS: Registry[Framer] = Registry("framer")


def pump(
    session: FramerSession,
    deliver: Callable[[EncodedPacket], None],
    stop: threading.Event,
    stall_seconds: float,
) -> None:
    """Read packets until `stop` is set, handing each to `deliver` (thread side of the framer loop).

    Raises StreamError(STALLED) when packets arrive but none is video for `stall_seconds`.
    """
    last_video = time.monotonic()
    while not stop.is_set():
        packet = session.read()
        now = time.monotonic()
        if packet is not None:
            deliver(packet)
            if packet.is_video:
                last_video = now
                continue
        if now - last_video > stall_seconds:
            raise StreamError(StreamFailure.STALLED, f"no video packet for {stall_seconds:g} s")
