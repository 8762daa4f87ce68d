"""Orphan requests (cameras that need an agent): the `OrphanQueue` seam and its file-backed simulator.

Delivery is at least once: a manager may see a request twice, so handling is idempotent and the lease
decides who runs the camera. A camera has at most one request waiting at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vsnative.control.store import atomic_write

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrphanRequest:
    id: str
    camera_id: str


class OrphanQueue(Protocol):
    async def publish(self, camera_id: str) -> bool:
        """Queue a request for camera unless one is already waiting; True when queued."""
        ...

    async def take(self, consumer: str, count: int, block: float) -> list[OrphanRequest]:
        """Up to `count` requests for this consumer, waiting at most `block` seconds for the first."""
        ...

    async def ack(self, consumer: str, request: OrphanRequest) -> None:
        """The request was handled (claimed or found moot): it will not be delivered again."""
        ...

    async def backlog(self) -> int:
        """Requests waiting or taken but not yet acknowledged."""
        ...


class FileOrphanQueue:
    """Pending requests kept in a JSON file (one process), so a restart loses none."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._waiting: list[str] = []
        self._taken: dict[str, str] = {}  # request id -> camera id
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        with contextlib.suppress(FileNotFoundError):
            data = json.loads(path.read_bytes())
            if isinstance(data, list):
                self._waiting = [str(cid) for cid in data]
            else:
                log.warning("%s is not a list of camera ids; starting with no pending request", path)

    def _save(self) -> None:
        pending = [*self._taken.values(), *self._waiting]
        atomic_write(self.path, json.dumps(pending).encode())

    async def publish(self, camera_id: str) -> bool:
        if camera_id in self._waiting or camera_id in self._taken.values():
            return False
        self._waiting.append(camera_id)
        self._save()
        self._arrived.set()
        return True

    async def take(self, consumer: str, count: int, block: float) -> list[OrphanRequest]:
        if not self._waiting and block > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), block)
        batch, self._waiting = self._waiting[:count], self._waiting[count:]
        requests = [OrphanRequest(str(next(self._ids)), cid) for cid in batch]
        for request in requests:
            self._taken[request.id] = request.camera_id
        return requests

    async def ack(self, consumer: str, request: OrphanRequest) -> None:
        if self._taken.pop(request.id, None) is not None:
            self._save()

    async def backlog(self) -> int:
        return len(self._waiting) + len(self._taken)
