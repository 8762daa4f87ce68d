"""Recording cost: one vsnative process vs one `ffmpeg -c copy -f segment` process per camera.

Both record the same N 1080p25 H.264 streams (2 s GOP, 4 Mb/s) from the GStreamer fake camera on
127.0.0.1, one after the other, for the same time. Prints CPU-seconds per stream-minute, RSS per camera
and frames lost (frames expected from the recorded time span minus frames found in the files).
`--floor` adds bench/pyav_floor.py, PyAV's own demux + mux in a minimal loop: what any PyAV recorder
costs at least. `--rounds` interleaves runs and prints medians (CPU figures here drift over minutes).

    .venv/bin/python bench/record.py --cameras 1 8 32 --seconds 60
    .venv/bin/python bench/record.py --cameras 32 --seconds 30 --rounds 3 --floor --recorder-only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.camera import FakeCamera  # noqa: E402
from tests.support.media import FFMPEG, FFPROBE, make_media  # noqa: E402
from tests.support.service import Service, write_settings  # noqa: E402

FPS = 25
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    cpu_per_stream_minute: float
    rss_per_camera_mb: float
    rss_total_mb: float
    frames_expected: int
    frames_recorded: int

    @property
    def lost(self) -> int:
        return max(0, self.frames_expected - self.frames_recorded)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def count_frames(path: Path) -> int:
    out = subprocess.run(
        [
            FFPROBE,
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout.strip()
    return int(out) if out.isdigit() else 0


def duration(path: Path) -> float:
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout.strip()
    try:
        return float(out)
    except ValueError:
        return 0.0


RECORDER_ONLY = {"defaults": {"streamers": [{"type": "mp4Recorder"}]}}


def run_vsnative(
    urls: list[str], work: Path, seconds: float, warmup: float, recorder_only: bool, count: bool = True
) -> Result:
    cameras = [{"id": f"cam{i:02d}", "rtspUrl": url} for i, url in enumerate(urls)]
    settings = write_settings(work / "settings", cameras, RECORDER_ONLY if recorder_only else None)
    service = Service(settings, work / "recordings", "--max-agents", str(len(urls) + 1))
    service.start()
    try:
        service.wait_for(
            lambda: all(a["state"] == "running" for a in service.agents().values()), 60, "agents"
        )
        time.sleep(warmup)
        assert service.proc is not None
        pid = service.proc.pid
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        cpu = cpu_seconds(pid) - cpu0
        elapsed = time.monotonic() - t0
        rss = rss_mb(pid)
        drops = sum(a["counters"]["drops"] for a in service.agents().values())
    finally:
        service.stop()
    expected = recorded = 0
    for cam in cameras if count else []:
        entries = []
        for index in (work / "recordings" / cam["id"]).glob("*/index.jsonl"):
            entries += [json.loads(line) for line in index.read_text().splitlines()]
        entries.sort(key=lambda e: e["start"])
        if entries:
            span = entries[-1]["start"] + entries[-1]["duration"] - entries[0]["start"]
            expected += round(span * FPS)
            recorded += sum(
                count_frames(
                    work
                    / "recordings"
                    / cam["id"]
                    / time.strftime("%Y-%m-%d", time.gmtime(e["start"]))
                    / e["file"]
                )
                for e in entries
            )
    if drops:
        print(f"  vsnative fan-out drops: {drops}")
    n = len(urls)
    return Result(cpu / n / (elapsed / 60), rss / n, rss, expected, recorded)


def measure_processes(
    procs: list[subprocess.Popen[bytes]], seconds: float, warmup: float
) -> tuple[float, float]:
    """CPU-seconds per minute of wall clock and total RSS (MB) of running processes; stops them after."""
    try:
        time.sleep(warmup)
        cpu0 = sum(cpu_seconds(p.pid) for p in procs)
        t0 = time.monotonic()
        time.sleep(seconds)
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        elapsed = time.monotonic() - t0
        rss = sum(rss_mb(p.pid) for p in procs)
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    return cpu / (elapsed / 60), rss


def segments_result(
    segments: list[Path], n: int, cpu_per_minute: float, rss: float, count: bool = True
) -> Result:
    segments = segments if count else []
    recorded = sum(count_frames(f) for f in segments)
    # no wall-clock index here: a segment's frames are expected to fill its own duration
    expected = sum(round(duration(f) * FPS) for f in segments)
    return Result(cpu_per_minute / n, rss / n, rss, expected, recorded)


def run_floor(urls: list[str], work: Path, seconds: float, warmup: float, count: bool = True) -> Result:
    """bench/pyav_floor.py: PyAV's own demux + mux with no vsnative around it."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "pyav_floor.py"), str(work), *urls],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    cpu, rss = measure_processes([proc], seconds, warmup)
    return segments_result(sorted(work.glob("cam*/*.mp4")), len(urls), cpu, rss, count)


def run_ffmpeg(urls: list[str], work: Path, seconds: float, warmup: float, count: bool = True) -> Result:
    procs = []
    for i, url in enumerate(urls):
        out = work / f"ff{i:02d}"
        out.mkdir(parents=True)
        procs.append(
            subprocess.Popen(
                [
                    FFMPEG,
                    "-v",
                    "error",
                    "-rtsp_transport",
                    "tcp",
                    "-i",
                    url,
                    "-c",
                    "copy",
                    "-f",
                    "segment",
                    "-segment_time",
                    "5",
                    "-reset_timestamps",
                    "1",
                    str(out / "%05d.mp4"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    cpu, rss = measure_processes(procs, seconds, warmup)
    segments = [f for i in range(len(urls)) for f in sorted((work / f"ff{i:02d}").glob("*.mp4"))]
    return segments_result(segments, len(urls), cpu, rss, count)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs of each recorder per size, interleaved in a rotating order; medians are printed "
        "(this machine's CPU figures drift by 10%% over minutes: use 3 or more to compare)",
    )
    parser.add_argument(
        "--recorder-only",
        action="store_true",
        help="vsnative runs the recorder alone (default: the default pipeline, which also keeps each "
        "camera's GOP for instant live view)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run bench/pyav_floor.py: PyAV's demux + mux in a minimal loop (the floor of any "
        "PyAV recorder)",
    )
    args = parser.parse_args()
    # (urls, work dir, count frames): frames are counted in the first round only (ffprobe is slow)
    runners: dict[str, Callable[[list[str], Path, bool], Result]] = {
        "vsnative": lambda urls, work, count: run_vsnative(
            urls, work, args.seconds, args.warmup, args.recorder_only, count
        ),
        "ffmpeg": lambda urls, work, count: run_ffmpeg(urls, work, args.seconds, args.warmup, count),
    }
    if args.floor:
        runners["floor"] = lambda urls, work, count: run_floor(urls, work, args.seconds, args.warmup, count)
    names = list(runners)
    with tempfile.TemporaryDirectory(prefix="vsn-bench-") as tmp:
        base = Path(tmp)
        media = make_media(base).h264_1080  # 1080p25 H.264 Main, 4 Mb/s, 2 s GOP
        most = max(args.cameras)
        mounts = {f"/cam{i:02d}": str(media) for i in range(most)}
        floor_head = f" {'floor':>8}" if args.floor else ""
        print(f"CPU-seconds per stream-minute, RSS per camera: medians of {args.rounds} round(s)")
        print(
            f"{'cameras':>7} | {'CPU s/stream-min':>26}{' ' * len(floor_head)} | "
            f"{'RSS MB/camera':>22} | {'frames lost':>18}"
        )
        print(
            f"{'':>7} | {'vsnative':>8} {'ffmpeg':>8} {'ratio':>8}{floor_head} | "
            f"{'vsnative':>7} {'ffmpeg':>7} {'ratio':>6} | {'vsnative':>8} {'ffmpeg':>8}"
        )
        for n in args.cameras:
            results: dict[str, list[Result]] = {name: [] for name in names}
            with FakeCamera(mounts) as cam:  # a fresh server per size keeps sizes independent
                urls = [cam.url(f"/cam{i:02d}") for i in range(n)]
                for r in range(args.rounds):
                    for name in names[r % len(names) :] + names[: r % len(names)]:
                        work = base / f"{name}{n}-{r}"
                        results[name].append(runners[name](urls, work, r == 0))
                        shutil.rmtree(work, ignore_errors=True)
                        if args.rounds > 1:
                            print(
                                f"  round {r + 1} {name}: {results[name][-1].cpu_per_stream_minute:.3f}",
                                flush=True,
                            )
            cpu = {k: statistics.median(x.cpu_per_stream_minute for x in v) for k, v in results.items()}
            rss = {k: statistics.median(x.rss_per_camera_mb for x in v) for k, v in results.items()}
            lost = {k: v[0].lost for k, v in results.items()}  # counted in the first round
            floor_cell = f" {cpu['floor']:8.3f}" if args.floor else ""
            print(
                f"{n:>7} | {cpu['vsnative']:8.3f} {cpu['ffmpeg']:8.3f} "
                f"{cpu['vsnative'] / cpu['ffmpeg']:8.2f}{floor_cell} | "
                f"{rss['vsnative']:7.1f} {rss['ffmpeg']:7.1f} "
                f"{rss['vsnative'] / rss['ffmpeg']:6.2f} | {lost['vsnative']:8d} {lost['ffmpeg']:8d}",
                flush=True,
            )


if __name__ == "__main__":
    main()
