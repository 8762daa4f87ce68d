"""The distributed backend on Redis: cameras, leases with fencing tokens, orphan stream, manager registry.

Keys (all under one prefix, default `vsn:`):
  camera:<id>   hash, one JSON-encoded value per cameras.json field      cameras   set of camera ids
  owner:<id>    "<manager>|<token>" with a TTL (the lease)              fence:<id> last token issued
  orphans       stream of {camera: id}, consumer group `managers`       orphan:<id> "a request is waiting"
  managers      hash manager id -> JSON status (for /api/cluster)
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from vsnative.agent import Heartbeat
from vsnative.control.leases import Lease
from vsnative.control.manager import is_live
from vsnative.control.orphans import OrphanRequest
from vsnative.control.store import merge_user_fields, patched
from vsnative.errors import ConflictError, NotFoundError
from vsnative.models import RUNTIME_FIELDS, Camera

log = logging.getLogger(__name__)
GROUP = "managers"
CHANGE_TRIES = 20  # only people's edits race one another (heartbeats write other fields)

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""
# Renew our lease; if it vanished (expired while Redis was unreachable, or Redis lost its data) take it
# back unless a newer token was issued meanwhile, and keep the fence at least at our token.
_RENEW = """
local v = redis.call('GET', KEYS[1])
local mine = ARGV[1] .. '|' .. ARGV[3]
if v == mine then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if v then return 0 end
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if fence > tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], mine, 'PX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# One orphan request per camera however long it waits (before: a marker that expired after 300 s let the
# monitor queue the same waiting cameras again every 5 minutes while the cluster was full). The marker holds
# the request's entry id and has no expiry: the request is published again only once that entry has left
# the stream (acknowledged and deleted by the manager that took it, which also deletes the marker, or
# trimmed away), so a lost request is never stuck behind its marker either.
_PUBLISH = """
local id = redis.call('GET', KEYS[2])
if id and #redis.call('XRANGE', KEYS[1], id, id) > 0 then
  return false
end
local new = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'camera', ARGV[1])
redis.call('SET', KEYS[2], new)
return new
"""
# Write a camera's user fields if they are still what the writer read (compare-and-set on those fields
# only: the agent's heartbeat writes runtime fields into the same hash and must not make an edit fail).
# ARGV: n, then the n (field, value read) pairs, then the (field, value) pairs to write.
# Returns -1 when the camera is gone, 0 when a field changed (or vanished) meanwhile, 1 when written.
_SET_IF_UNCHANGED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = tonumber(ARGV[1])
for i = 2, 2 * n, 2 do
  if (redis.call('HGET', KEYS[1], ARGV[i]) or '') ~= ARGV[i + 1] then return 0 end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2 * n + 2))
return 1
"""
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""
_HEARTBEAT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


def connect(url: str) -> aioredis.Redis:
    """A client that reconnects by itself; commands fail fast (seconds) while Redis is down. A command that
    meets a connection Redis closed meanwhile (a pooled one, after a restart: "Connection closed by
    server") is retried once on a fresh connection, at once: the first request after an outage succeeds."""
    client: aioredis.Redis = aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=3,
        health_check_interval=15,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return client


class RedisBackend:
    """Cameras, leases, orphan requests and the manager registry on one Redis."""

    def __init__(self, client: aioredis.Redis, prefix: str = "vsn:") -> None:
        self.redis = client
        self.prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._publish = client.register_script(_PUBLISH)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._set_if_unchanged = client.register_script(_SET_IF_UNCHANGED)
        self._create = client.register_script(_CREATE)
        self._group_ready = False

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # --- cameras (CameraStore) -----------------------------------------------------------------
    @staticmethod
    def _decode(raw: dict[str, str]) -> Camera | None:
        try:
            return Camera.model_validate({k: json.loads(v) for k, v in raw.items()})
        except (ValueError, ValidationError):
            log.warning("skipping malformed camera record %s", raw.get("id", "?"))
            return None

    @staticmethod
    def _encode(camera: Camera) -> dict[str, str]:
        return {k: json.dumps(v) for k, v in camera.to_record().items()}

    async def list_cameras(self) -> list[Camera]:
        ids = sorted(str(cid) for cid in await self.redis.smembers(self.key("cameras")))
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hgetall(self.key("camera", cid))
            rows: list[dict[str, str]] = await pipe.execute()  # decode_responses: str values
        return [cam for raw in rows if raw and (cam := self._decode(raw)) is not None]

    async def get(self, camera_id: str) -> Camera | None:
        raw: dict[str, str] = await self.redis.hgetall(self.key("camera", camera_id))  # type: ignore[assignment]
        return self._decode(raw) if raw else None

    async def create(self, camera: Camera) -> Camera:
        args = [camera.id, *_flat(self._encode(camera))]
        if not await self._create(keys=[self.key("camera", camera.id), self.key("cameras")], args=args):
            raise ConflictError(f"camera {camera.id!r} exists")
        return camera

    async def _change(self, camera_id: str, change: Any) -> Camera:
        """Read a camera, change its user fields and write them back unless another edit came first.

        An edit that lost the race is redone on the fresh record after a short random pause (so that two
        writers in step do not keep colliding), up to CHANGE_TRIES times. Runtime fields are neither
        compared nor written: the agent's heartbeats own them.
        """
        key = self.key("camera", camera_id)
        for attempt in range(CHANGE_TRIES):
            if attempt:
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))  # noqa: S311 - jitter, not crypto
            raw: dict[str, str] = await self.redis.hgetall(key)  # type: ignore[assignment]
            old = self._decode(raw) if raw else None
            if old is None:
                raise NotFoundError(f"no camera {camera_id!r}")
            new: Camera = change(old)
            read = {k: v for k, v in raw.items() if k not in RUNTIME_FIELDS}
            write = {k: v for k, v in self._encode(new).items() if k not in RUNTIME_FIELDS}
            args = [str(len(read)), *_flat(read), *_flat(write)]
            done = int(await self._set_if_unchanged(keys=[key], args=args))
            if done < 0:
                raise NotFoundError(f"no camera {camera_id!r}")
            if done:
                return new
        raise ConflictError(f"camera {camera_id!r} kept changing while it was being written; try again")

    async def replace(self, camera: Camera, sent: set[str] | None = None) -> Camera:
        fields = sent if sent is not None else set(camera.model_fields_set)
        return await self._change(camera.id, lambda old: merge_user_fields(old, camera, fields))

    async def patch(self, camera_id: str, fields: dict[str, Any]) -> Camera:
        return await self._change(camera_id, lambda old: patched(old, fields))

    async def update(self, camera_id: str, **fields: object) -> None:
        """Set runtime fields (no validation: only the service writes these)."""
        await self._heartbeat_fields(camera_id, {k: json.dumps(v) for k, v in fields.items()})

    async def _heartbeat_fields(self, camera_id: str, fields: dict[str, str]) -> bool:
        return bool(await self._heartbeat(keys=[self.key("camera", camera_id)], args=_flat(fields)))

    async def delete(self, camera_id: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key("camera", camera_id))
            pipe.srem(self.key("cameras"), camera_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def heartbeat(self, beat: Heartbeat) -> None:
        await self.update(beat.camera_id, **beat.fields())

    async def import_cameras(self, cameras: list[Camera]) -> int:
        """Load cameras.json records (create or overwrite); returns how many."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for camera in cameras:
                pipe.delete(self.key("camera", camera.id))
                pipe.hset(self.key("camera", camera.id), mapping=self._encode(camera))  # type: ignore[arg-type]
                pipe.sadd(self.key("cameras"), camera.id)
            await pipe.execute()
        return len(cameras)

    # --- leases (Leases) -----------------------------------------------------------------------
    async def acquire(self, camera_id: str, owner: str, ttl: float) -> Lease | None:
        token = await self._acquire(
            keys=[self.key("owner", camera_id), self.key("fence", camera_id)], args=[owner, int(ttl * 1000)]
        )
        return Lease(camera_id, owner, int(token)) if token else None

    async def renew(self, lease: Lease, ttl: float) -> bool:
        keys = [self.key("owner", lease.camera_id), self.key("fence", lease.camera_id)]
        return bool(await self._renew(keys=keys, args=[lease.owner, int(ttl * 1000), lease.token]))

    async def release(self, lease: Lease) -> None:
        await self._release(keys=[self.key("owner", lease.camera_id)], args=[f"{lease.owner}|{lease.token}"])

    async def holders(self, camera_ids: list[str]) -> dict[str, Lease]:
        if not camera_ids:
            return {}
        values = await self.redis.mget([self.key("owner", cid) for cid in camera_ids])
        held = {}
        for cid, value in zip(camera_ids, values, strict=True):
            if value and "|" in str(value):
                owner, _, token = str(value).rpartition("|")
                held[cid] = Lease(cid, owner, int(token))
        return held

    # --- orphan requests (OrphanQueue) ---------------------------------------------------------
    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.key("orphans"), GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def publish(self, camera_id: str) -> bool:
        await self._ensure_group()
        keys = [self.key("orphans"), self.key("orphan", camera_id)]
        return bool(await self._publish(keys=keys, args=[camera_id, 10_000]))

    async def take(
        self, consumer: str, count: int, block: float, reclaim_idle: float = 10.0
    ) -> list[OrphanRequest]:
        await self._ensure_group()
        stream = self.key("orphans")
        try:
            # requests a dead manager took but never acknowledged
            reclaimed: Any = await self.redis.xautoclaim(
                stream, GROUP, consumer, min_idle_time=int(reclaim_idle * 1000), start_id="0-0", count=count
            )
            entries: list[tuple[str, dict[str, str]]] = list(reclaimed[1])
            if len(entries) < count:
                reply: Any = await self.redis.xreadgroup(
                    GROUP,
                    consumer,
                    {stream: ">"},
                    count=count - len(entries),
                    block=max(1, int(block * 1000)),
                )
                for _, items in reply or []:
                    entries += items
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis restarted without its data: recreate the group
                self._group_ready = False
                return []
            raise
        requests = []
        for entry_id, fields in entries:
            camera_id = (fields or {}).get("camera")
            if not camera_id:
                log.warning("skipping malformed orphan request %s: %s", entry_id, fields)
                await self._ack_id(entry_id, None)
                continue
            requests.append(OrphanRequest(entry_id, camera_id))
        return requests

    async def _ack_id(self, entry_id: str, camera_id: str | None) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.key("orphans"), GROUP, entry_id)
            pipe.xdel(self.key("orphans"), entry_id)
            if camera_id is not None:
                pipe.delete(self.key("orphan", camera_id))
            await pipe.execute()

    async def ack(self, consumer: str, request: OrphanRequest) -> None:
        await self._ack_id(request.id, request.camera_id)

    async def backlog(self) -> int:
        return int(await self.redis.xlen(self.key("orphans")))

    # --- manager registry ------------------------------------------------------------------------
    async def announce(self, manager_id: str, status: dict[str, Any]) -> None:
        await self.redis.hset(
            self.key("managers"), manager_id, json.dumps({**status, "updated": time.time()})
        )

    async def withdraw(self, manager_id: str) -> None:
        await self.redis.hdel(self.key("managers"), manager_id)

    async def managers(self) -> list[dict[str, Any]]:
        raw = await self.redis.hgetall(self.key("managers"))
        now = time.time()
        live: list[tuple[str, dict[str, Any]]] = []
        dead: list[tuple[str, dict[str, Any]]] = []
        for manager_id, value in raw.items():
            status = json.loads(value)
            (live if is_live(status, now) else dead).append((str(manager_id), status))
        if dead:
            await self.redis.hdel(self.key("managers"), *[m for m, _ in dead])
        return [status for _, status in sorted(live)]


def _flat(fields: dict[str, str]) -> list[str]:
    return [item for pair in fields.items() for item in pair]
