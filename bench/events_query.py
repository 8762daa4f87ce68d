"""Events of a span from the SQLite store: 200,000 events of 16 cameras over 30 days (10-60 s each, and
20 cars parked for 6 h), the events overlapping one hour asked for, recent and old, with and without a
camera and kind. Prints the best of 3 per query beside how many events began in that hour.

    .venv/bin/python bench/events_query.py
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsnative.events import Event, EventStore

NOW = 2_000_000_000.0


def main() -> None:
    rng = random.Random(7)  # noqa: S311 - event lengths, not cryptography
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(Path(tmp) / "events.db")
        for i in range(200_000):
            ts = NOW - 30 * 86400 + i * 13
            end = ts + rng.uniform(10, 60)
            store.add(Event(f"e{i}", f"cam{i % 16}", "person", 0.9, (0, 0, 1, 1), ts, None, end=end))
        for i in range(20):
            ts = NOW - rng.uniform(0, 30 * 86400)
            store.add(Event(f"car{i}", f"cam{i % 16}", "car", 0.9, (0, 0, 1, 1), ts, None, end=ts + 6 * 3600))
        for label, start in (
            ("last hour", NOW - 3600),
            ("a week ago", NOW - 7 * 86400),
            ("29 days ago", NOW - 29 * 86400),
        ):
            for camera, kinds in ((None, None), ("cam3", None), ("cam3", ("detection",))):
                best = float("inf")
                for _ in range(3):
                    began = time.perf_counter()
                    found = store.query(camera=camera, start=start, end=start + 3600, limit=1000, kinds=kinds)
                    best = min(best, time.perf_counter() - began)
                began_in = sum(1 for e in found if e.ts >= start)
                print(
                    f"{label:12s} camera={camera} kinds={kinds}: {len(found)} events ({began_in} began in "
                    f"the hour) in {best * 1000:.1f} ms"
                )
        store.close()


if __name__ == "__main__":
    main()
