"""Recording cost: one vsnative process vs one `ffmpeg -c copy -f segment` process per camera.

Both record the same N 1080p25 H.264 streams (2 s GOP, 4 Mb/s) from the GStreamer fake camera on
127.0.0.1, one after the other, for the same time. Prints CPU-seconds per stream-minute, RSS per camera
and frames lost (frames expected from the recorded time span minus frames found in the files).

    .venv/bin/python bench/record.py --cameras 1 8 32 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
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


def run_vsnative(urls: list[str], work: Path, seconds: float, warmup: float, recorder_only: bool) -> Result:
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
    for cam in cameras:
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


def run_ffmpeg(urls: list[str], work: Path, seconds: float, warmup: float) -> Result:
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
    segments = [f for i in range(len(urls)) for f in sorted((work / f"ff{i:02d}").glob("*.mp4"))]
    recorded = sum(count_frames(f) for f in segments)
    # ffmpeg keeps no wall-clock index: a segment's frames are expected to fill its own duration
    expected = sum(round(duration(f) * FPS) for f in segments)
    n = len(urls)
    return Result(cpu / n / (elapsed / 60), rss / n, rss, expected, recorded)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--recorder-only",
        action="store_true",
        help="vsnative runs the recorder alone (default: the default pipeline, which also keeps each "
        "camera's GOP for instant live view)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vsn-bench-") as tmp:
        base = Path(tmp)
        media = make_media(base).h264_1080  # 1080p25 H.264 Main, 4 Mb/s, 2 s GOP
        most = max(args.cameras)
        mounts = {f"/cam{i:02d}": str(media) for i in range(most)}
        print(f"{'cameras':>7} | {'CPU s/stream-min':>26} | {'RSS MB/camera':>22} | {'frames lost':>18}")
        print(
            f"{'':>7} | {'vsnative':>8} {'ffmpeg':>8} {'ratio':>8} | "
            f"{'vsnative':>7} {'ffmpeg':>7} {'ratio':>6} | {'vsnative':>8} {'ffmpeg':>8}"
        )
        for n in args.cameras:
            with FakeCamera(mounts) as cam:  # a fresh server per size keeps runs independent
                urls = [cam.url(f"/cam{i:02d}") for i in range(n)]
                vsn = run_vsnative(urls, base / f"vsn{n}", args.seconds, args.warmup, args.recorder_only)
                ff = run_ffmpeg(urls, base / f"ff{n}", args.seconds, args.warmup)
            print(
                f"{n:>7} | {vsn.cpu_per_stream_minute:8.3f} {ff.cpu_per_stream_minute:8.3f} "
                f"{vsn.cpu_per_stream_minute / ff.cpu_per_stream_minute:8.2f} | "
                f"{vsn.rss_per_camera_mb:7.1f} {ff.rss_per_camera_mb:7.1f} "
                f"{vsn.rss_per_camera_mb / ff.rss_per_camera_mb:6.2f} | {vsn.lost:8d} {ff.lost:8d}",
                flush=True,
            )
            shutil.rmtree(base / f"vsn{n}", ignore_errors=True)
            shutil.rmtree(base / f"ff{n}", ignore_errors=True)


if __name__ == "__main__":
    main()
