"""The events stores, one contract: SQLite (the embedded backend) and Redis (a cluster's pods share it)
answer the same questions the same way: newest first, by camera, label, kind and time (end exclusive),
with a limit; an event read back is the event written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis import URL, delete_prefix, unique_prefix
from vsnative.control.redis_events import RedisEvents
from vsnative.events import Event, Events, EventStore


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
    assert [e.id for e in store.query(start=1003, end=1006)] == ["d5", "h1", "d4", "d3"]  # end exclusive
    assert [e.id for e in store.query(kinds={"camera_offline", "storage_low"})] == ["h2", "h1"]
    assert [e.id for e in store.query(camera="door", kinds={"detection"}, limit=2)] == ["d9", "d7"]
    assert store.query(camera="nobody") == []
    assert store.get("d3") == detection(3, camera="door", label="car")
    assert store.get("h1") == offline
    assert store.get("missing") is None


def test_many_events_are_paged_through(store: Events) -> None:
    for i in range(1200):
        store.add(Event(f"e{i:04d}", "door", "person" if i < 5 else "car", 0.9, (0, 0, 1, 1), float(i), None))
    people = store.query(label="person", limit=10)  # the rarest label lies under 1,195 newer events
    assert [e.id for e in people] == ["e0004", "e0003", "e0002", "e0001", "e0000"]
    assert len(store.query(limit=1000)) == 1000
