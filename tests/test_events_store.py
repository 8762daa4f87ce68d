"""The events stores, one contract: SQLite (the embedded backend) and Redis (a cluster's pods share it)
answer the same questions the same way: newest first, by camera, label, kind, zone, progress and time (end
exclusive), with a limit; an event read back is the event written, and written again over itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.redis import URL, delete_prefix, unique_prefix
from vsnative.control.redis_events import RedisEvents
from vsnative.events import Event, Events, EventStore, close_open


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Events]:
    if request.param == "sqlite":
        sqlite = EventStore(tmp_path / "events.db")
        yield sqlite
        sqlite.close()
    else:
        prefix = unique_prefix()
        shared = RedisEvents(URL, prefix)
        yield shared
        shared.close()
        delete_prefix(URL, prefix)


def detection(i: int, camera: str = "door", label: str = "person") -> Event:
    return Event(f"d{i}", camera, label, 0.5 + i / 100, (0.1, 0.2, 0.3, 0.4), 1000.0 + i, f"/s/{i}.jpg")


def test_the_same_answers_from_either_store(store: Events) -> None:
    for i in range(10):
        store.add(detection(i, camera="door" if i % 2 else "yard", label="car" if i % 3 == 0 else "person"))
    offline = Event("h1", "door", "", 0.0, (0, 0, 0, 0), 1004.5, None, "camera_offline", "unreachable")
    store.add(offline)
    store.add(Event("h2", "", "", 0.0, (0, 0, 0, 0), 1020.0, None, "storage_low", "0.5 GB free"))
    assert [e.id for e in store.query(limit=3)] == ["h2", "d9", "d8"]
    assert [e.id for e in store.query(camera="door")] == ["d9", "d7", "d5", "h1", "d3", "d1"]
    assert [e.id for e in store.query(label="car")] == ["d9", "d6", "d3", "d0"]
    # end exclusive; the detections begun before the range are still going on (no end): they overlap it
    assert [e.id for e in store.query(start=1003, end=1006)] == ["d5", "h1", "d4", "d3", "d2", "d1", "d0"]
    assert [e.id for e in store.query(start=1003, end=1006, kinds={"camera_offline"})] == ["h1"]
    assert [e.id for e in store.query(kinds={"camera_offline", "storage_low"})] == ["h2", "h1"]
    assert [e.id for e in store.query(camera="door", kinds={"detection"}, limit=2)] == ["d9", "d7"]
    assert store.query(camera="nobody") == []
    assert store.get("d3") == detection(3, camera="door", label="car")
    assert store.get("h1") == offline
    assert store.get("missing") is None


def span(name: str, start: float, end: float | None, camera: str = "door") -> Event:
    return Event(name, camera, "car", 0.9, (0, 0, 1, 1), start, None, end=end)


def test_a_range_lists_the_events_that_overlap_it(store: Events) -> None:
    """[1000, 1100): what began in it, and what began before and went on into it (a car parked since
    before, an event still going on); a moment (a health event) only when it is in the range."""
    for event in (
        span("over", 900, 950),
        span("just-before", 500, 999.9),
        span("ends-inside", 950, 1010),
        span("going-on", 980, None),
        span("spans-it", 990, 1200),
        span("inside", 1040, 1060),
        span("at-start", 1000, 1000.5),
        span("at-end", 1100, 1110),
        span("other-camera", 970, 1020, camera="yard"),
        Event("moment-before", "door", "", 0.0, (0, 0, 0, 0), 990.0, None, "camera_offline", "gone"),
        Event("moment", "door", "", 0.0, (0, 0, 0, 0), 1050.0, None, "camera_offline", "gone"),
    ):
        store.add(event)
    found = store.query(camera="door", start=1000, end=1100)
    assert [e.id for e in found] == ["moment", "inside", "at-start", "spans-it", "going-on", "ends-inside"]
    assert [e.id for e in store.query(camera="door", start=1000, end=1100, limit=4)] == [
        "moment",
        "inside",
        "at-start",
        "spans-it",
    ]
    assert [e.id for e in store.query(start=1000, end=1100, in_progress=True)] == ["going-on"]
    assert "other-camera" in {e.id for e in store.query(start=1000, end=1100)}
    store.add(span("going-on", 980, 995))  # it ended before the range after all
    assert "going-on" not in {e.id for e in store.query(camera="door", start=1000, end=1100)}


def test_many_events_are_paged_through(store: Events) -> None:
    for i in range(1200):
        store.add(Event(f"e{i:04d}", "door", "person" if i < 5 else "car", 0.9, (0, 0, 1, 1), float(i), None))
    people = store.query(label="person", limit=10)  # the rarest label lies under 1,195 newer events
    assert [e.id for e in people] == ["e0004", "e0003", "e0002", "e0001", "e0000"]
    assert len(store.query(limit=1000)) == 1000


def test_an_events_life_is_stored_over_itself_and_found_by_zone_and_progress(store: Events) -> None:
    started = Event("e1", "door", "person", 0.6, (0.1, 0.2, 0.3, 0.9), 1000.0, None, last_seen=1000.0)
    store.add(started)
    store.add(detection(2))  # another event of the camera, in progress too
    assert {e.id for e in store.query(camera="door", in_progress=True)} == {"e1", "d2"}
    better = replace(started, confidence=0.9, last_seen=1006.0, zones=("porch",), snapshot="/s/e1.jpg")
    store.add(better)
    ended = replace(better, end=1012.0, last_seen=1012.0, zones=("porch", "path"), end_reason="gone")
    store.add(ended)
    assert store.get("e1") == ended
    assert [e.id for e in store.query(camera="door")] == ["d2", "e1"]  # one event, not three
    assert [e.id for e in store.query(camera="door", in_progress=True)] == ["d2"]
    assert [e.id for e in store.query(camera="door", in_progress=False)] == ["e1"]
    assert [e.id for e in store.query(zone="path")] == ["e1"]
    assert store.query(zone="pat") == []  # a whole zone name, not a part of one
    public = ended.public()
    assert (public["start"], public["end"], public["duration"], public["inProgress"]) == (
        1000,
        1012,
        12,
        False,
    )
    assert public["zones"] == ["porch", "path"]


def test_events_left_in_progress_are_ended_at_their_last_sighting(store: Events) -> None:
    store.add(Event("a", "door", "person", 0.8, (0, 0, 1, 1), 1000.0, None, last_seen=1030.0))
    store.add(Event("b", "door", "car", 0.8, (0, 0, 1, 1), 1010.0, None))  # never updated
    store.add(Event("c", "yard", "car", 0.8, (0, 0, 1, 1), 1010.0, None))  # another camera's
    store.add(Event("h", "door", "", 0.0, (0, 0, 0, 0), 1020.0, None, "camera_offline", "unreachable"))
    assert close_open(store, "door") == 2
    a, b = store.get("a"), store.get("b")
    assert a is not None
    assert b is not None
    assert (a.end, a.end_reason, b.end, b.end_reason) == (1030.0, "restart", 1010.0, "restart")
    assert [e.id for e in store.query(in_progress=True)] == ["c"]
    assert close_open(store, "door") == 0


def test_a_database_of_the_first_release_is_read_and_written(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE events (id TEXT PRIMARY KEY, camera TEXT NOT NULL, label TEXT NOT NULL, "
        "confidence REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL, "
        "ts REAL NOT NULL, snapshot TEXT)"
    )
    db.execute("INSERT INTO events VALUES ('old', 'door', 'person', 0.9, 0, 0, 1, 1, 1000.0, NULL)")
    db.commit()
    db.close()
    store = EventStore(path)
    (old,) = store.query()
    assert (old.id, old.kind, old.end, old.zones, old.stationary) == ("old", "detection", None, (), False)
    assert close_open(store, "door") == 1  # an old alert, never ended: now an event of no length
    ended = store.get("old")
    assert ended is not None
    assert ended.public()["duration"] == 0
    store.close()
