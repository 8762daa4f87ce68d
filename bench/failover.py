"""Failover under repeated kill -9: N agents-managers and a monitor on Redis, M synthetic cameras.

Every k seconds a random manager is killed with SIGKILL and restarted. From the managers' start/stop
records (fencing tokens included) it prints how long cameras stayed unowned after each kill (worst and
median), double-ownership events (must be 0) and cameras lost at the end (must be 0).

    .venv/bin/python bench/failover.py --managers 3 --max-agents 4 --cameras 8 --every 15 --minutes 2
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.redis import URL, delete_prefix  # noqa: E402
from tests.test_e2e_cluster import LEASE, MONITOR, Cluster, ts  # noqa: E402


def ownership(cluster: Cluster, end: float) -> dict[str, list[tuple[float, float, int, str]]]:
    spans: dict[str, list[tuple[float, float, int, str]]] = {}
    open_: dict[tuple[str, str, int], float] = {}
    for e in sorted(cluster.records(), key=ts):
        key = (e["camera"], e["manager"], e["token"])
        if e["event"] == "agent_start":
            open_[key] = ts(e)
        elif key in open_:
            spans.setdefault(e["camera"], []).append((open_.pop(key), ts(e), e["token"], e["manager"]))
    for (camera, manager, token), start in open_.items():
        spans.setdefault(camera, []).append((start, cluster.killed_at.get(manager, end), token, manager))
    for camera_spans in spans.values():
        camera_spans.sort()
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--max-agents", type=int, default=4)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--every", type=float, default=15.0, help="seconds between kills")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 - choosing a victim, not cryptography
    with tempfile.TemporaryDirectory(prefix="vsn-failover-") as tmp:
        cluster = Cluster(Path(tmp), cameras=args.cameras)
        kills: list[float] = []
        try:
            cluster.import_cameras()
            names = [f"m{i}" for i in range(args.managers)]
            for name in names:
                cluster.start_manager(name, args.max_agents)
            cluster.start_monitor()
            cluster.wait(lambda: len(cluster.placement()) == args.cameras, 60, "all cameras placed")
            deadline = time.monotonic() + args.minutes * 60
            generation = 0
            while time.monotonic() + args.every < deadline:
                time.sleep(args.every)
                victim = rng.choice([n for n in names if n in cluster.live()])
                cluster.kill9(victim)
                kills.append(cluster.killed_at[victim])
                generation += 1
                # restart it under a new name: the dead one's log and records stay attributable
                reborn = f"{victim.split('.')[0]}.{generation}"
                names[names.index(victim)] = reborn
                cluster.start_manager(reborn, args.max_agents)
            time.sleep(LEASE + MONITOR + 3)
            end = time.time()
            placed = cluster.placement()
            lost = args.cameras - len(placed)
        finally:
            for service in cluster.live().values():
                service.stop()
            cluster.killed_at.update({n: time.time() for n in cluster.managers if n not in cluster.killed_at})
            if cluster.monitor is not None:
                cluster.monitor.terminate()
                cluster.monitor.wait(timeout=20)
        spans = ownership(cluster, end)
        gaps: list[float] = []
        doubles = 0
        for camera_spans in spans.values():
            for (_, e1, t1, m1), (s2, _, t2, m2) in itertools.pairwise(camera_spans):
                if (m1, t1) == (m2, t2):
                    continue
                if s2 < e1:
                    doubles += 1
                elif any(e1 - 0.5 <= k <= e1 + 0.5 for k in kills):  # a gap that a kill caused
                    gaps.append(s2 - e1)
        print(
            f"managers {args.managers} x {args.max_agents} agents, cameras {args.cameras}, "
            f"kill -9 every {args.every:g} s for {args.minutes:g} min: {len(kills)} kills"
        )
        print(f"lease {LEASE:g} s, monitor period {MONITOR:g} s: target <= {LEASE + MONITOR + 2:g} s")
        if gaps:
            print(
                f"unowned after a kill: worst {max(gaps):.2f} s, median {statistics.median(gaps):.2f} s "
                f"({len(gaps)} camera failovers)"
            )
        print(f"double-ownership events: {doubles}")
        print(f"cameras lost: {lost}")
        delete_prefix(URL, cluster.prefix)


if __name__ == "__main__":
    main()
