"""Camera ownership as leases with fencing tokens: the `Leases` seam and its in-process backend.

A camera runs only where its lease is held. Tokens grow with every new acquisition of a camera, so the
start/stop records of agents can prove that no camera ever ran twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Lease:
    camera_id: str
    owner: str  # the manager id
    token: int  # fencing token: strictly increasing per camera


class Leases(Protocol):
    async def acquire(self, camera_id: str, owner: str, ttl: float) -> Lease | None:
        """Take the camera if nobody holds it; None when it is held."""
        ...

    async def renew(self, lease: Lease, ttl: float) -> bool:
        """Extend a lease we hold (re-taking it if it vanished); False when someone else holds it."""
        ...

    async def release(self, lease: Lease) -> None:
        """Give the camera back, only if we still hold it."""
        ...

    async def holders(self, camera_ids: list[str]) -> dict[str, Lease]:
        """Current holders of these cameras (cameras nobody holds are absent)."""
        ...


class LocalLeases:
    """Leases inside one process (the embedded file backend): same rules, no network."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[Lease, float]] = {}
        self._tokens: dict[str, int] = {}

    def _live(self, camera_id: str) -> Lease | None:
        entry = self._held.get(camera_id)
        if entry is None:
            return None
        lease, expires = entry
        if expires <= time.monotonic():
            del self._held[camera_id]
            return None
        return lease

    async def acquire(self, camera_id: str, owner: str, ttl: float) -> Lease | None:
        if self._live(camera_id) is not None:
            return None
        token = self._tokens.get(camera_id, 0) + 1
        self._tokens[camera_id] = token
        lease = Lease(camera_id, owner, token)
        self._held[camera_id] = (lease, time.monotonic() + ttl)
        return lease

    async def renew(self, lease: Lease, ttl: float) -> bool:
        current = self._live(lease.camera_id)
        if current is not None and current != lease:
            return False
        self._held[lease.camera_id] = (lease, time.monotonic() + ttl)
        return True

    async def release(self, lease: Lease) -> None:
        if self._live(lease.camera_id) == lease:
            del self._held[lease.camera_id]

    async def holders(self, camera_ids: list[str]) -> dict[str, Lease]:
        return {cid: lease for cid in camera_ids if (lease := self._live(cid)) is not None}
