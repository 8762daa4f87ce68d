"""Events (alerts that happened), persisted in SQLite beside the recordings: `recordings/events.db`.

Why SQLite: it ships with Python, survives restarts and crashes (WAL), and answers the API's questions
(by camera, label and time) through indexes, with no server to run. One process writes it; managers on a
shared volume should each get their own recordings folder (SQLite over NFS is not safe).
Blocking: call from worker threads.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, camera TEXT NOT NULL, label TEXT NOT NULL, confidence REAL NOT NULL,
    x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
    ts REAL NOT NULL, snapshot TEXT
);
CREATE INDEX IF NOT EXISTS events_camera_ts ON events (camera, ts);
CREATE INDEX IF NOT EXISTS events_label_ts ON events (label, ts);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
"""


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    camera: str
    label: str
    confidence: float
    box: tuple[float, float, float, float]
    ts: float
    snapshot: str | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "cameraId": self.camera,
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "box": [round(v, 4) for v in self.box],
            "timestamp": self.ts,
            "snapshotUrl": f"/api/events/{self.id}/snapshot.jpg" if self.snapshot else None,
            "clipUrl": f"/api/events/{self.id}/clip.mp4",
        }


class EventStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def add(self, event: Event) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event.id, event.camera, event.label, event.confidence, *event.box, event.ts, event.snapshot),
            )

    def get(self, event_id: str) -> Event | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        return _event(row) if row else None

    def query(
        self,
        camera: str | None = None,
        label: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Newest first."""
        where, args = [], []
        for clause, value in (
            ("camera = ?", camera),
            ("label = ?", label),
            ("ts >= ?", start),
            ("ts < ?", end),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        # only fixed clauses are joined; every value is a bound parameter
        sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608
        sql += " ORDER BY ts DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [_event(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _event(row: tuple[Any, ...]) -> Event:
    return Event(row[0], row[1], row[2], row[3], (row[4], row[5], row[6], row[7]), row[8], row[9])
