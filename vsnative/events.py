"""Events (tracked objects the detectors found, and camera health events), persisted in SQLite beside the
recordings: `recordings/events.db`. Each has a `kind`: `detection`, or one of `health_events.HealthKind`.
A detection event has a life (tracking.py): stored when it starts (`end` empty: in progress), stored again
over itself on each update and at its end.

Why SQLite: it ships with Python, survives restarts and crashes (WAL), and answers the API's questions
(by camera, label and time) through indexes, with no server to run: the embedded (file) backend's store.
On a cluster (Redis backend) every pod writes and reads the events in Redis (`redis_events.py`): SQLite is
not safe on a shared network volume (WAL needs memory shared on one host, and POSIX locks over NFS are not
to be trusted), and Redis is what the pods share already. Both are `Events`.
Blocking: call from worker threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from vsnative.health_events import DETECTION, Notice

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, camera TEXT NOT NULL, label TEXT NOT NULL, confidence REAL NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    ts REAL NOT NULL, snapshot TEXT, kind TEXT NOT NULL DEFAULT 'detection', message TEXT,
    end_ts REAL, last_seen REAL, object_id INTEGER, zones TEXT NOT NULL DEFAULT '[]',
    stationary INTEGER NOT NULL DEFAULT 0, end_reason TEXT
);
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS events_camera_ts ON events (camera, ts);
CREATE INDEX IF NOT EXISTS events_label_ts ON events (label, ts);
CREATE INDEX IF NOT EXISTS events_kind_ts ON events (kind, ts);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_open ON events (camera) WHERE end_ts IS NULL AND kind = 'detection';
CREATE INDEX IF NOT EXISTS events_end_ts ON events (end_ts, ts);
"""
# columns added since the first release: a database written by an older version gains them at open
ADDED_COLUMNS = {
    "kind": "ALTER TABLE events ADD COLUMN kind TEXT NOT NULL DEFAULT 'detection'",
    "message": "ALTER TABLE events ADD COLUMN message TEXT",
    "end_ts": "ALTER TABLE events ADD COLUMN end_ts REAL",
    "last_seen": "ALTER TABLE events ADD COLUMN last_seen REAL",
    "object_id": "ALTER TABLE events ADD COLUMN object_id INTEGER",
    "zones": "ALTER TABLE events ADD COLUMN zones TEXT NOT NULL DEFAULT '[]'",
    "stationary": "ALTER TABLE events ADD COLUMN stationary INTEGER NOT NULL DEFAULT 0",
    "end_reason": "ALTER TABLE events ADD COLUMN end_reason TEXT",
}
COLUMNS = (
    "id, camera, label, confidence, x1, y1, x2, y2, ts, snapshot, kind, message, "
    "end_ts, last_seen, object_id, zones, stationary, end_reason"
)


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    camera: str
    label: str
    confidence: float
    box: tuple[float, float, float, float]
    ts: float
    snapshot: str | None
    kind: str = DETECTION
    message: str | None = None  # a health event's text ("camera unreachable")
    # a detection event's life: `ts` is its start; `end` None while it is in progress
    end: float | None = None
    last_seen: float | None = None
    object_id: int | None = None
    zones: tuple[str, ...] = ()
    stationary: bool = False
    end_reason: str | None = None  # gone | stationary | stopped | no_video | restart

    @property
    def in_progress(self) -> bool:
        return self.kind == DETECTION and self.end is None

    @classmethod
    def of_notice(cls, notice: Notice) -> Event:
        """A health event as stored: no label, box or snapshot; the camera "" for the whole service."""
        return cls(
            notice.event_id or new_event_id(),
            notice.camera_id or "",
            "",
            0.0,
            (0.0, 0.0, 0.0, 0.0),
            notice.timestamp,
            None,
            notice.kind.value,
            notice.message,
        )

    def public(self) -> dict[str, Any]:
        if self.kind != DETECTION:
            return {
                "id": self.id,
                "kind": self.kind,
                "cameraId": self.camera or None,
                "message": self.message,
                "label": None,
                "confidence": None,
                "box": None,
                "timestamp": self.ts,
                "start": self.ts,
                "end": self.ts,
                "duration": 0.0,
                "inProgress": False,
                "lastSeen": None,
                "objectId": None,
                "zones": [],
                "stationary": False,
                "endReason": None,
                "snapshotUrl": None,
                "clipUrl": None,
            }
        return {
            "id": self.id,
            "kind": self.kind,
            "cameraId": self.camera,
            "message": None,
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "box": [round(v, 4) for v in self.box],
            "timestamp": self.ts,
            "start": self.ts,
            "end": self.end,
            "duration": round(self.end - self.ts, 3) if self.end is not None else None,
            "inProgress": self.in_progress,
            "lastSeen": self.last_seen,
            "objectId": self.object_id,
            "zones": list(self.zones),
            "stationary": self.stationary,
            "endReason": self.end_reason,
            "snapshotUrl": f"/api/events/{self.id}/snapshot.jpg" if self.snapshot else None,
            "clipUrl": f"/api/events/{self.id}/clip.mp4",
        }


def new_event_id() -> str:
    return uuid.uuid4().hex


class Events(Protocol):
    """Where events are kept (SQLite here, or Redis on a cluster). Blocking: call from worker threads."""

    def add(self, event: Event) -> None:
        """Store the event, over the one of the same id if there is one (an event's update or end)."""
        ...

    def get(self, event_id: str) -> Event | None: ...

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
        """Newest first (by start). `start`/`end`: the events that overlap [start, end): begun before
        `end`, and begun at or after `start` or still going on then (a detection that ended at or after
        `start`, or goes on; an event without an end is a moment). `kinds` keeps only events of those
        kinds, `zone` the detections that entered that zone, `in_progress` those still going on (True) or
        over (False)."""
        ...

    def close(self) -> None: ...


class EventStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
        for column, statement in ADDED_COLUMNS.items():
            if column not in have:
                self._db.execute(statement)
        self._db.executescript(INDEXES)

    def add(self, event: Event) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO events ({COLUMNS}) VALUES ({', '.join('?' * 18)})",  # noqa: S608
                (
                    event.id,
                    event.camera,
                    event.label,
                    event.confidence,
                    *event.box,
                    event.ts,
                    event.snapshot,
                    event.kind,
                    event.message,
                    event.end,
                    event.last_seen,
                    event.object_id,
                    json.dumps(list(event.zones)),
                    int(event.stationary),
                    event.end_reason,
                ),
            )

    def get(self, event_id: str) -> Event | None:
        with self._lock:
            row = self._db.execute(f"SELECT {COLUMNS} FROM events WHERE id = ?", (event_id,)).fetchone()  # noqa: S608
        return _event(row) if row else None

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
        """Newest first (by start); see `Events.query`."""
        where: list[str] = []
        args: list[Any] = []
        if kinds is not None:
            where.append("kind IN (" + ", ".join("?" * len(kinds)) + ")")
            args.extend(sorted(kinds))
        going_on = "kind = 'detection' AND end_ts IS NULL"
        if label is not None:
            where.append("label = ?")
            args.append(label)
        if zone is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(events.zones) WHERE json_each.value = ?)")
            args.append(zone)
        if in_progress is not None:
            where.append(going_on if in_progress else f"NOT ({going_on})")

        # the camera and the range's end: in each part of the query below, beside that part's own index
        scope = ["camera = ?"] if camera is not None else []
        scope_args: list[Any] = [camera] if camera is not None else []
        if end is not None:
            scope.append("ts < ?")
            scope_args.append(end)
        args += scope_args

        # only fixed clauses are joined; every value is a bound parameter
        def select(*more: str, table: str = "events") -> str:
            return f"SELECT {COLUMNS} FROM {table} WHERE " + " AND ".join([*where, *more] or ["1"])  # noqa: S608

        if start is None:
            sql, params = select(*scope), args
        else:
            # begun in the range; or before it and ended in or after it, found by their end; or before it
            # and going on (the planner, left to itself, walks every older event by its start, camera or
            # kind: 136 against 5 ms for the last hour of 200,000 events)
            sql = " UNION ALL ".join(
                (
                    select(*scope, "ts >= ?"),
                    select(*scope, "ts < ?", "end_ts >= ?", table="events INDEXED BY events_end_ts"),
                    select(*scope, "ts < ?", going_on, table="events INDEXED BY events_open"),
                )
            )
            params = [*args, start, *args, start, start, *args, start]
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY ts DESC LIMIT ?", (*params, limit)).fetchall()
        return [_event(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def close_open(events: Events, camera: str, reason: str = "restart") -> int:
    """End the camera's detection events left in progress (the agent that had them stopped without ending
    them: killed, or its pod lost): each ends at its object's last sighting. Returns how many."""
    closed = 0
    while found := events.query(camera, limit=500, kinds=(DETECTION,), in_progress=True):
        for e in found:
            events.add(replace(e, end=e.last_seen if e.last_seen is not None else e.ts, end_reason=reason))
            closed += 1
    return closed


def _event(row: tuple[Any, ...]) -> Event:
    return Event(
        row[0],
        row[1],
        row[2],
        row[3],
        (row[4], row[5], row[6], row[7]),
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        row[14],
        tuple(json.loads(row[15] or "[]")),
        bool(row[16]),
        row[17],
    )
