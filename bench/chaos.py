"""Chaos against the control plane, judged from the recordings: 3 agents-managers, a monitor and a Redis of
our own (append-only file) record real RTSP cameras (GStreamer); every `--every` seconds one of SIGKILL a
manager (restarted 2 s later), SIGSTOP one for twice the lease TTL, or kill -9 Redis and start it again.
Afterwards every clip index line (with its fencing token) is audited:

- takeover: from a fault to the new owner's agent start, per camera the victim held, against TTL + 2 s;
- failover window: the hole in a camera's recording where its owner changed (end of the old owner's
  last clip to the start of the new owner's first: the takeover, plus the fragment in progress that a
  kill loses, plus connecting and waiting for the camera's next keyframe), against TTL + monitor + 2 s;
- overlapping clips (must be 0), clips written after their lease was lost (must be 0: a clip of a paused
  manager's token ending after its pause began + its fence deadline), cameras lost at the end (0), `.part`
  files left (0).

    .venv/bin/python bench/chaos.py --cameras 6 --minutes 3 --every 20
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.camera import FakeCamera  # noqa: E402
from tests.support.media import make_media  # noqa: E402
from tests.support.redis import RedisServer, unique_prefix  # noqa: E402
from tests.support.service import Service, start_monitor, write_settings  # noqa: E402
from tests.test_e2e_cluster import import_cameras, ts  # noqa: E402
from vsnative.control.fence import MARGIN_FRACTION  # noqa: E402

LEASE, MONITOR = 6.0, 1.0


class Chaos:
    def __init__(self, tmp: Path, cameras: int, max_agents: int) -> None:
        self.tmp = tmp
        self.recordings = tmp / "recordings"
        self.redis = RedisServer(tmp / "redis").start()
        self.prefix = unique_prefix()
        self.common = ["--backend", "redis", "--redis-url", self.redis.url, "--redis-prefix", self.prefix]
        self.max_agents = max_agents
        self.cameras = [f"c{i}" for i in range(cameras)]
        self.managers: dict[str, Service] = {}
        self.events: list[dict[str, Any]] = []  # what was done, when (wall clock)
        self.monitor: subprocess.Popen[bytes] | None = None
        self.settings: Path | None = None

    def setup(self, camera: FakeCamera) -> None:
        pipeline = {
            "defaults": {
                "framers": {"rtsp": {"openTimeoutSeconds": 3, "readTimeoutSeconds": 3, "stallSeconds": 4}},
                "streamers": [{"type": "mp4Recorder"}],
            }
        }
        cams = [{"id": c, "rtspUrl": camera.url(f"/{c}")} for c in self.cameras]
        self.settings = write_settings(self.tmp / "settings", cams, pipeline)
        import_cameras(self.settings, self.redis.url, self.prefix)
        self.monitor = start_monitor(self.settings, self.common, MONITOR, self.tmp / "monitor.log")

    def start_manager(self, name: str) -> None:
        assert self.settings is not None
        flags = [
            *self.common,
            "--manager-id",
            name,
            "--max-agents",
            str(self.max_agents),
            "--lease-seconds",
            str(LEASE),
            "--reconcile-seconds",
            "1",
            "--heartbeat-seconds",
            "2",
        ]
        self.managers[name] = Service(self.settings, self.recordings, *flags, command="manager").start(60)

    def live(self) -> dict[str, Service]:
        return {n: s for n, s in self.managers.items() if s.proc is not None and s.proc.poll() is None}

    def placement(self) -> dict[str, list[str]]:
        where: dict[str, list[str]] = {}
        for name, service in self.live().items():
            try:
                for cam in service.agents():
                    where.setdefault(cam, []).append(name)
            except OSError:
                continue  # paused or restarting
        return where

    def wait_placed(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.placement()) == len(self.cameras):
                return True
            time.sleep(0.5)
        return False

    def holder(self, rng: random.Random) -> str:
        owners = {m for ms in self.placement().values() for m in ms}
        return rng.choice(sorted(owners or self.live()))

    def kill(self, rng: random.Random, generation: int) -> None:
        victim = self.holder(rng)
        service = self.managers[victim]
        assert service.proc is not None
        service.proc.kill()
        service.proc.wait(timeout=10)
        self.events.append({"what": "SIGKILL", "manager": victim, "at": time.time()})
        time.sleep(2)
        self.start_manager(f"{victim.split('.')[0]}.{generation}")

    def pause(self, rng: random.Random) -> None:
        victim = self.holder(rng)
        service = self.managers[victim]
        assert service.proc is not None
        os.kill(service.proc.pid, signal.SIGSTOP)
        at = time.time()
        self.events.append({"what": "SIGSTOP", "manager": victim, "at": at})
        time.sleep(2 * LEASE)
        os.kill(service.proc.pid, signal.SIGCONT)
        self.events.append({"what": "SIGCONT", "manager": victim, "at": time.time()})

    def restart_redis(self) -> None:
        self.redis.stop()
        self.events.append({"what": "redis kill -9", "at": time.time()})
        time.sleep(2)
        self.redis.start()
        self.events.append({"what": "redis start", "at": time.time()})

    def stop(self) -> None:
        for service in self.managers.values():
            if service.proc is not None and service.proc.poll() is None:
                os.kill(service.proc.pid, signal.SIGCONT)
                service.stop()
        if self.monitor is not None:
            self.monitor.terminate()
            self.monitor.wait(timeout=20)
        self.redis.stop()

    def tokens(self) -> dict[tuple[str, int], tuple[str, float]]:
        """(camera, token) -> the manager that took it and when (from the managers' agent_start records)."""
        held = {}
        for name, service in self.managers.items():
            for line in service.log().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if entry.get("event") == "agent_start":
                    held[(entry["camera"], entry["token"])] = (name, ts(entry))
        return held

    def index(self, camera: str) -> list[dict[str, Any]]:
        lines = []
        for day in sorted((self.recordings / camera).glob("*/index.jsonl")):
            lines += [json.loads(line) for line in day.read_text().splitlines() if line.strip()]
        return sorted(lines, key=lambda e: e["start"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, default=6)
    parser.add_argument("--max-agents", type=int, default=3)
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--every", type=float, default=20.0, help="seconds between faults")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 - choosing a victim, not cryptography
    with tempfile.TemporaryDirectory(prefix="vsn-chaos-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "media").mkdir()
        media = make_media(tmp / "media")
        mounts = {f"/c{i}": str(media.h264_720) for i in range(args.cameras)}
        chaos = Chaos(tmp, args.cameras, args.max_agents)
        lost = -1
        try:
            with FakeCamera(mounts) as camera:
                chaos.setup(camera)
                for i in range(args.managers):
                    chaos.start_manager(f"m{i}")
                if not chaos.wait_placed(90):
                    raise SystemExit(f"not every camera placed: {chaos.placement()}")
                faults = itertools.cycle(["SIGKILL", "SIGSTOP", "redis"])
                deadline = time.monotonic() + args.minutes * 60
                generation = 0
                while time.monotonic() + args.every < deadline:
                    time.sleep(args.every)
                    fault = next(faults)
                    generation += 1
                    if fault == "SIGKILL":
                        chaos.kill(rng, generation)
                    elif fault == "SIGSTOP":
                        chaos.pause(rng)
                    else:
                        chaos.restart_redis()
                chaos.wait_placed(LEASE + MONITOR + 20)
                time.sleep(8)  # a clip or two more everywhere
                placement = chaos.placement()
                lost = sum(1 for c in chaos.cameras if len(placement.get(c, [])) != 1)
        finally:
            chaos.stop()
        report(chaos, args, lost)


def report(chaos: Chaos, args: argparse.Namespace, lost: int) -> None:
    held = chaos.tokens()
    pauses = [(e["manager"], e["at"]) for e in chaos.events if e["what"] == "SIGSTOP"]
    windows: list[float] = []
    overlaps = after_loss = clips = recovered = 0
    for camera in chaos.cameras:
        entries = chaos.index(camera)
        clips += len(entries)
        recovered += sum(1 for e in entries if e.get("recovered"))
        for before, after in itertools.pairwise(entries):
            end = before["start"] + before["duration"]
            if after["start"] < end - 0.001:
                overlaps += 1
            if before.get("token") != after.get("token"):
                windows.append(after["start"] - end)
        for entry in entries:
            owner, taken_at = held.get((camera, entry.get("token", -1)), ("", 0.0))
            for manager, paused_at in pauses:
                # a lease held when its manager was frozen: the fence stops writing at the pause plus the
                # lease's deadline at the latest, whatever happens when it wakes
                deadline = paused_at + LEASE * (1 - MARGIN_FRACTION)
                held_then = owner == manager and taken_at < paused_at
                if held_then and entry["start"] + entry["duration"] > deadline + 0.5:
                    after_loss += 1
    # the control plane's own failover: a fault to the new owner's agent start, per camera the victim held
    takeovers: list[float] = []
    starts = sorted((at, cam, manager) for (cam, _), (manager, at) in held.items())
    for fault in (e for e in chaos.events if e["what"] in ("SIGKILL", "SIGSTOP")):
        victim, at = fault["manager"], fault["at"]
        had = {cam for (t, cam, manager) in starts if manager == victim and t < at}
        for cam in had:
            later = [t for (t, c, manager) in starts if c == cam and manager != victim and t > at]
            if later:
                takeovers.append(min(later) - at)
    parts = list(chaos.recordings.rglob("*.part"))
    counts = {what: sum(1 for e in chaos.events if e["what"] == what) for what in ("SIGKILL", "SIGSTOP")}
    counts["redis restarts"] = sum(1 for e in chaos.events if e["what"] == "redis start")
    target = LEASE + MONITOR + 2
    print(
        f"{args.managers} managers x {args.max_agents} agents, {args.cameras} RTSP cameras, "
        f"lease {LEASE:g} s, {args.minutes:g} min, a fault every {args.every:g} s: {counts}"
    )
    print(f"clips: {clips} ({recovered} recovered from .part)")
    if windows:
        print(
            "failover window (hole in the recording at an owner change): "
            f"p50 {statistics.median(windows):.2f} s, p95 {percentile(windows, 0.95):.2f} s, "
            f"max {max(windows):.2f} s over {len(windows)} changes "
            f"(target TTL + monitor + 2 s = {target:g} s)"
        )
    if takeovers:
        print(
            "takeover (a fault to the new owner's agent start): "
            f"p50 {statistics.median(takeovers):.2f} s, p95 {percentile(takeovers, 0.95):.2f} s, "
            f"max {max(takeovers):.2f} s over {len(takeovers)} cameras (target TTL + 2 s = {LEASE + 2:g} s)"
        )
    print(f"overlapping clips: {overlaps}")
    print(f"clips written after their lease was lost: {after_loss}")
    print(f"cameras lost at the end: {lost}")
    print(f".part files left: {len(parts)}")


if __name__ == "__main__":
    main()
