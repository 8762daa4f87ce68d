"""The events of a cluster in Redis: every pod writes its agents' events there and answers
`GET /api/events` with everyone's (the `Events` seam of events.py; SQLite is the embedded backend's).

Keys (under the backend's prefix): `event:<id>` holds the event as JSON; `events` and
`events:camera:<id>` are sorted sets of ids scored by start, so a time range is one ZREVRANGEBYSCORE and
a camera's events never scan the others'; `events:end` and `events:camera:<id>:end` score them by end
(+inf while a detection goes on, its start for a moment), for the events begun before a range that go on
into it (events stored before the end index existed are found by their start only). Label and kind
are filtered on the way, a batch at a time, at most SCAN_LIMIT events looked at per query. Blocking
(redis-py's synchronous client, thread-safe pool): called from worker threads like the SQLite store.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import redis

from vsnative.events import Event

BATCH = 500
SCAN_LIMIT = 20_000  # events looked at by one query at most (a label or kind rarer than that is cut)


class RedisEvents:
    def __init__(self, url: str, prefix: str) -> None:
        self.prefix = prefix
        self._redis = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5, socket_connect_timeout=3
        )

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def add(self, event: Event) -> None:
        """Store the event, over the one of the same id (an update or the end of a detection event)."""
        record = {
            "id": event.id,
            "camera": event.camera,
            "label": event.label,
            "confidence": event.confidence,
            "box": list(event.box),
            "ts": event.ts,
            "snapshot": event.snapshot,
            "kind": event.kind,
            "message": event.message,
            "end": event.end,
            "lastSeen": event.last_seen,
            "objectId": event.object_id,
            "zones": list(event.zones),
            "stationary": event.stationary,
            "endReason": event.end_reason,
        }
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key("event", event.id), json.dumps(record))
            pipe.zadd(self._key("events"), {event.id: event.ts})
            pipe.zadd(self._key("events", "camera", event.camera), {event.id: event.ts})
            ends = float("inf") if event.in_progress else event.end if event.end is not None else event.ts
            pipe.zadd(self._key("events", "end"), {event.id: ends})
            pipe.zadd(self._key("events", "camera", event.camera, "end"), {event.id: ends})
            pipe.execute()

    def get(self, event_id: str) -> Event | None:
        raw = self._redis.get(self._key("event", event_id))
        return _event(raw) if isinstance(raw, str) else None

    def query(
        self,
        camera: str | None = None,
        label: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 100,
        kinds: Collection[str] | None = None,
        zone: str | None = None,
        in_progress: bool | None = None,
    ) -> list[Event]:
        """Newest first (by start); see `events.Events.query`."""
        index = self._key("events", "camera", camera) if camera is not None else self._key("events")
        high = f"({end}" if end is not None else "+inf"  # end is exclusive, as in the SQLite store

        def wanted(event: Event) -> bool:
            return (
                (label is None or event.label == label)
                and (kinds is None or event.kind in kinds)
                and (zone is None or zone in event.zones)
                and (in_progress is None or event.in_progress == in_progress)
            )

        low = str(start) if start is not None else "-inf"
        found = self._scan(index, high, low, wanted, limit, newest_first=True)
        if start is None or len(found) >= limit:
            return found
        # begun before the range and going on into it: by their end, at or after `start`; all older than
        # the events above, so they come after them, newest first
        before = self._scan(
            index + ":end", "+inf", str(start), lambda e: e.ts < start and wanted(e), SCAN_LIMIT, False
        )
        before.sort(key=lambda e: e.ts, reverse=True)
        return found + before[: limit - len(found)]

    def _scan(
        self, index: str, high: str, low: str, wanted: Any, limit: int, newest_first: bool
    ) -> list[Event]:
        """The wanted events of `index` scored in [low, high], a batch at a time, at most SCAN_LIMIT."""
        found: list[Event] = []
        for offset in range(0, SCAN_LIMIT, BATCH):
            ids: Any = (
                self._redis.zrevrangebyscore(index, high, low, start=offset, num=BATCH)
                if newest_first
                else self._redis.zrangebyscore(index, low, high, start=offset, num=BATCH)
            )
            if not ids:
                break
            raws: Any = self._redis.mget([self._key("event", i) for i in ids])
            for raw in raws:
                if not isinstance(raw, str):
                    continue  # removed meanwhile
                event = _event(raw)
                if wanted(event):
                    found.append(event)
                    if len(found) >= limit:
                        return found
            if len(ids) < BATCH:
                break
        return found

    def close(self) -> None:
        self._redis.close()


def _event(raw: str) -> Event:
    r = json.loads(raw)
    box = tuple(float(v) for v in r["box"])
    return Event(
        r["id"],
        r["camera"],
        r["label"],
        float(r["confidence"]),
        (box[0], box[1], box[2], box[3]),
        float(r["ts"]),
        r.get("snapshot"),
        r.get("kind", "detection"),
        r.get("message"),
        r.get("end"),
        r.get("lastSeen"),
        r.get("objectId"),
        tuple(r.get("zones") or ()),
        bool(r.get("stationary", False)),
        r.get("endReason"),
    )
