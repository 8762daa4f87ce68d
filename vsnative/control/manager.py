"""agents-manager: takes orphan requests while it has a free slot, owns each camera through a lease, and
stops exactly the agent whose camera became excluded, was deleted, or whose lease was lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Protocol

from vsnative import cancellation
from vsnative.agent import Agent, Heartbeat, HeartbeatSink
from vsnative.backoff import Backoff
from vsnative.control.fence import Fence
from vsnative.control.leases import Lease, Leases
from vsnative.control.orphans import OrphanQueue, OrphanRequest
from vsnative.control.outage import BACKEND_ERRORS
from vsnative.control.pool import AgentPool
from vsnative.control.store import CameraStore
from vsnative.errors import BackendUnavailable
from vsnative.models import RUNTIME_FIELDS, Camera

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0  # how often the backend is tried while it is away


def guarded(sink: HeartbeatSink) -> HeartbeatSink:
    """A heartbeat sink whose backend outages surface as BackendUnavailable (the agent logs and goes on)."""

    async def beat(heartbeat: Heartbeat) -> None:
        try:
            await sink(heartbeat)
        except BACKEND_ERRORS as exc:
            raise BackendUnavailable(f"backend unreachable: {exc}") from exc

    return beat


class Registry(Protocol):
    async def announce(self, manager_id: str, status: dict[str, Any]) -> None: ...

    async def withdraw(self, manager_id: str) -> None: ...

    async def managers(self) -> list[dict[str, Any]]:
        """Managers whose last announcement is younger than 3 of their own announce periods."""
        ...


def is_live(status: dict[str, Any], now: float) -> bool:
    return bool(now - status.get("updated", 0) <= 3 * status.get("announceSeconds", 10))


class LocalRegistry:
    """The manager registry of a single process."""

    def __init__(self) -> None:
        self._status: dict[str, dict[str, Any]] = {}

    async def announce(self, manager_id: str, status: dict[str, Any]) -> None:
        self._status[manager_id] = {**status, "updated": time.time()}

    async def withdraw(self, manager_id: str) -> None:
        self._status.pop(manager_id, None)

    async def managers(self) -> list[dict[str, Any]]:
        return [s for _, s in sorted(self._status.items()) if is_live(s, time.time())]


@dataclass
class ManagerConfig:
    manager_id: str
    lease_ttl: float = 15.0
    reconcile_seconds: float = 5.0
    stale_seconds: float = 300.0
    take_block_seconds: float = 1.0
    url: str = ""  # where other pods reach this manager's API (its advertised URL)


def user_fields(camera: Camera) -> dict[str, Any]:
    record = camera.to_record()
    for field in RUNTIME_FIELDS:
        record.pop(field, None)
    return record


class AgentsManager:
    def __init__(
        self,
        config: ManagerConfig,
        store: CameraStore,
        leases: Leases,
        queue: OrphanQueue,
        pool: AgentPool,
        registry: Registry,
    ) -> None:
        self.config = config
        self.id = config.manager_id
        self.store = store
        self.leases = leases
        self.queue = queue
        self.pool = pool
        self.registry = registry
        self.held: dict[str, Lease] = {}
        self.fences: dict[str, Fence] = {}  # per held camera: what its agent may write until
        self._renewed: dict[str, float] = {}
        self._slot_freed = asyncio.Event()
        self._handover: set[str] = set()  # cameras being restarted under the same lease
        self._tasks: set[asyncio.Task[None]] = set()
        self._renew_failed = False  # a renewal of the current round met the backend away
        pool.on_finished.append(self._agent_finished)

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "maxAgents": self.pool.max_agents,
            "freeSlots": self.pool.free_slots,
            "agents": sorted(self.held),
            "announceSeconds": self.config.reconcile_seconds,
            "url": self.config.url,
        }

    async def run(self) -> None:
        """Run until cancelled; then stop every agent and give its lease back."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._consume_loop())
                tg.create_task(self._renew_loop())
                tg.create_task(self._reconcile_loop())
        finally:
            await self.pool.stop_all()
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=5)
            with contextlib.suppress(*BACKEND_ERRORS):
                await self.registry.withdraw(self.id)

    # --- taking orphan requests -------------------------------------------------------------------
    async def _consume_loop(self) -> None:
        backoff = Backoff(0.25, RETRY_SECONDS)  # orphans are taken again within a second of its return
        while True:
            cancellation.check()  # take() blocks in Redis: the round itself may have lost a cancel
            free = self.pool.free_slots
            if free <= 0:  # full: take no request, so other managers get them ("unsubscribe")
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                requests = await self.queue.take(self.id, free, self.config.take_block_seconds)
                for request in requests:
                    await self._handle(request)
                    await self.queue.ack(self.id, request)
                backoff.reset()
            except BACKEND_ERRORS as exc:
                delay = backoff.next_delay()
                log.warning("manager %s: backend unreachable (%s); retrying in %.1f s", self.id, exc, delay)
                await cancellation.sleep(delay)

    async def _handle(self, request: OrphanRequest) -> None:
        camera_id = request.camera_id
        if camera_id in self.held or self.pool.get(camera_id) is not None:
            return  # at-least-once delivery: we run it already
        camera = await self.store.get(camera_id)
        if camera is None or camera.excluded:
            log.info(
                "orphan request for %s ignored: %s", camera_id, "deleted" if camera is None else "excluded"
            )
            return
        sent = time.monotonic()  # the backend's TTL runs from a moment after this one
        lease = await self.leases.acquire(camera_id, self.id, self.config.lease_ttl)
        if lease is None:
            log.debug("orphan request for %s ignored: another manager holds it", camera_id)
            return
        self.fences[camera_id] = Fence(lease.token, self.config.lease_ttl, sent)
        self._renewed[camera_id] = sent
        self._start(camera, lease)

    def _start(self, camera: Camera, lease: Lease) -> None:
        self.held[camera.id] = lease
        log.info(
            "agent start: camera %s, token %d",
            camera.id,
            lease.token,
            extra={"event": "agent_start", "camera": camera.id, "token": lease.token, "manager": self.id},
        )
        if self.pool.start(camera, self.fences.get(camera.id)) is None:  # not while we take only `free`
            self._forget(camera.id)
            self._tasks.add(asyncio.get_running_loop().create_task(self._release(lease)))

    def _agent_finished(self, agent: Agent) -> None:
        """The agent's task ended (stopped or crashed): free the slot and give the lease back."""
        camera_id = agent.camera.id
        lease = self.held.get(camera_id) if camera_id in self._handover else self._forget(camera_id)
        if lease is not None:
            log.info(
                "agent stop: camera %s, token %d",
                camera_id,
                lease.token,
                extra={"event": "agent_stop", "camera": camera_id, "token": lease.token, "manager": self.id},
            )
            if camera_id not in self._handover:
                self._tasks.add(asyncio.get_running_loop().create_task(self._release(lease)))
        self._slot_freed.set()

    def _forget(self, camera_id: str) -> Lease | None:
        self._renewed.pop(camera_id, None)
        fence = self.fences.pop(camera_id, None)
        if fence is not None:
            fence.revoke()  # given back: an agent still finishing writes nothing more under it
        return self.held.pop(camera_id, None)

    async def _release(self, lease: Lease) -> None:
        try:
            with contextlib.suppress(*BACKEND_ERRORS):
                await self.leases.release(lease)
        finally:
            self._tasks.discard(asyncio.current_task())

    async def stop_agent(self, camera_id: str, reason: str) -> bool:
        """Stop exactly this camera's agent (its lease is released once it has stopped)."""
        if self.pool.get(camera_id) is None:
            return False
        log.info("stopping agent of camera %s: %s", camera_id, reason)
        return await self.pool.stop(camera_id)

    # --- leases ---------------------------------------------------------------------------------
    async def _renew_loop(self) -> None:
        """Every third of the TTL, renew every lease at once; the agents of every lease lost (or unproven
        for a TTL while the backend is unreachable) are stopped together, not one after the other. Their
        fences stopped their writing already: revoked here, or past their deadline by themselves."""
        ttl = self.config.lease_ttl
        failing = False
        while True:
            # while the backend is away, every second: renewals resume within a second of its return
            await cancellation.sleep(min(ttl / 3, RETRY_SECONDS) if failing else ttl / 3)
            held = list(self.held.items())
            self._renew_failed = False
            reasons = await asyncio.gather(*(self._renew(camera_id, lease, ttl) for camera_id, lease in held))
            failing = self._renew_failed
            lost = [
                (camera_id, reason) for (camera_id, _), reason in zip(held, reasons, strict=True) if reason
            ]
            if lost:
                await asyncio.gather(*(self.stop_agent(camera_id, reason) for camera_id, reason in lost))

    async def _renew(self, camera_id: str, lease: Lease, ttl: float) -> str | None:
        """Renew one lease; the reason to stop its agent, or None."""
        sent = time.monotonic()
        try:
            ok = await self.leases.renew(lease, ttl)
        except BACKEND_ERRORS as exc:
            # Keep recording while the lease would still be valid; past that, ownership is unproven.
            self._renew_failed = True
            if sent - self._renewed.get(camera_id, sent) > ttl:
                log.error("camera %s: lease not renewed for %.0f s (%s); stopping", camera_id, ttl, exc)
                return "lease expired while the backend was unreachable"
            return None
        fence = self.fences.get(camera_id)
        if ok:
            if self.held.get(camera_id) == lease:
                self._renewed[camera_id] = sent
                if fence is not None:
                    fence.renewed(sent)
            return None
        if fence is not None:
            fence.revoke()
        log.error("camera %s: lease lost to another manager; stopping at once", camera_id)
        return "lease lost"

    # --- reconcile ------------------------------------------------------------------------------
    async def _reconcile_loop(self) -> None:
        while True:
            try:
                await self.reconcile()
                await self.registry.announce(self.id, self.status())
            except BACKEND_ERRORS as exc:
                log.warning("manager %s: reconcile skipped, backend unreachable (%s)", self.id, exc)
            await cancellation.sleep(self.config.reconcile_seconds)

    async def reconcile(self) -> None:
        """Stop agents whose camera is excluded, deleted or reconfigured; restart long-unhealthy ones."""
        cameras = {camera.id: camera for camera in await self.store.list_cameras()}
        for agent in self.pool.agents:
            camera = cameras.get(agent.camera.id)
            if camera is None:
                await self.stop_agent(agent.camera.id, "camera deleted")
            elif camera.excluded:
                await self.stop_agent(agent.camera.id, "camera excluded")
            elif user_fields(camera) != user_fields(agent.camera):
                await self._restart(camera, "camera settings changed")
            elif agent.unhealthy_seconds() > self.config.stale_seconds:
                await self._restart(camera, f"unhealthy for more than {self.config.stale_seconds:.0f} s")

    async def _restart(self, camera: Camera, reason: str) -> None:
        lease = self.held.get(camera.id)
        if lease is None:
            return
        self._handover.add(camera.id)  # the lease passes from the old agent to the new one
        try:
            await self.stop_agent(camera.id, reason)
        finally:
            self._handover.discard(camera.id)
        if self.held.get(camera.id) == lease:
            self._start(camera, lease)
