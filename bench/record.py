"""Recording cost: one vsnative process vs one `ffmpeg -c copy -f segment` process per camera.

Both record the same N 1080p25 H.264 streams (2 s GOP, 4 Mb/s) from the GStreamer fake camera on
127.0.0.1, one after the other, for the same time. Prints CPU-seconds per stream-minute, RSS per camera
and frames lost (frames expected from the recorded time span minus frames found in the files).
`--floor` adds bench/pyav_floor.py, PyAV's own demux + mux in a minimal loop: what any PyAV recorder
costs at least. `--rounds` interleaves runs and prints medians (CPU figures here drift over minutes).

    .venv/bin/python bench/record.py --cameras 1 8 32 --seconds 60
    .venv/bin/python bench/record.py --cameras 32 --seconds 30 --rounds 3 --floor --recorder-only
    .venv/bin/python bench/record.py --cameras 16 --seconds 30 --rounds 4 --floor --recorder-only --together
    .venv/bin/python bench/record.py --cameras 4 --seconds 30 --source x264-sliced --recorder-only --floor

With `--source x264-sliced` the cameras are a live x264 encoder with sliced threads and parameter sets
before every IDR slice (keyframes demuxed as 4 packets): each recorder's clips are also checked at
`ffmpeg -v warning` and the damaged ones counted.

The ratio column is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.camera import FakeCamera  # noqa: E402
from tests.support.media import FFMPEG, FFPROBE, decode_warnings, make_media  # noqa: E402
from tests.support.service import Service, write_settings  # noqa: E402
from tests.support.zoo import PAY264, ZooCamera, ZooServer  # noqa: E402

FPS = 25
SLICED_1080 = ZooCamera(
    "x264-sliced-1080",
    "h264",
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=1920,height=1080,framerate=25/1 "
    "! x264enc speed-preset=ultrafast tune=zerolatency threads=4 sliced-threads=true key-int-max=50 "
    f"bitrate=4000 ! {PAY264}",
    width=1920,
    height=1080,
)
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    cpu_per_stream_minute: float
    rss_per_camera_mb: float
    rss_total_mb: float
    frames_expected: int
    frames_recorded: int
    clips: int = 0
    damaged: int = 0  # clips that print anything at ffmpeg -v warning (conceal, corrupt, non-monotonic...)

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


class Watcher:
    """A client that keeps reading a camera in a thread while the benchmark runs."""

    def __init__(self, url: str) -> None:
        self.container = av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 5))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        for _ in self.container.demux(self.container.streams.video[0]):
            if self.stop.is_set():
                break

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.container.close()


class Running:
    """A recorder started on some cameras: its processes, how to stop it and how to count what it wrote."""

    def __init__(self, procs: list[subprocess.Popen[bytes]], n: int) -> None:
        self.procs = procs
        self.n = n

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def drops(self) -> int:
        return 0

    def stop(self) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def frames(self) -> tuple[int, int]:
        """Frames expected from the recorded time spans, frames found in the files."""
        raise NotImplementedError

    def files(self) -> list[Path]:
        """The clips (segments) written."""
        raise NotImplementedError


class VsnativeRun(Running):
    def __init__(self, urls: list[str], work: Path, recorder_only: bool, code: Path | None = None) -> None:
        self.cameras = [{"id": f"cam{i:02d}", "rtspUrl": url} for i, url in enumerate(urls)]
        self.work = work
        settings = write_settings(work / "settings", self.cameras, RECORDER_ONLY if recorder_only else None)
        self.service = Service(settings, work / "recordings", "--max-agents", str(len(urls) + 1), code=code)
        self.service.start()
        try:
            self.service.wait_for(
                lambda: all(a["state"] == "running" for a in self.service.agents().values()), 60, "agents"
            )
        except BaseException:
            self.service.stop()
            raise
        assert self.service.proc is not None
        super().__init__([self.service.proc], len(urls))

    def drops(self) -> int:
        return sum(a["counters"]["drops"] for a in self.service.agents().values())

    def stop(self) -> None:
        self.service.stop()

    def files(self) -> list[Path]:
        return sorted((self.work / "recordings").glob("cam*/*/*.mp4"))

    def frames(self) -> tuple[int, int]:
        expected = recorded = 0
        for cam in self.cameras:
            entries = []
            for index in (self.work / "recordings" / cam["id"]).glob("*/index.jsonl"):
                entries += [json.loads(line) for line in index.read_text().splitlines()]
            entries.sort(key=lambda e: e["start"])
            if entries:
                span = entries[-1]["start"] + entries[-1]["duration"] - entries[0]["start"]
                expected += round(span * FPS)
                day = self.work / "recordings" / cam["id"]
                recorded += sum(
                    count_frames(day / time.strftime("%Y-%m-%d", time.gmtime(e["start"])) / e["file"])
                    for e in entries
                )
        return expected, recorded


class SegmentsRun(Running):
    """A recorder writing plain segment files: each segment's frames are expected to fill its duration."""

    def __init__(
        self, procs: list[subprocess.Popen[bytes]], n: int, segments: Callable[[], list[Path]]
    ) -> None:
        super().__init__(procs, n)
        self.segments = segments

    def files(self) -> list[Path]:
        return self.segments()

    def frames(self) -> tuple[int, int]:
        files = self.segments()
        return sum(round(duration(f) * FPS) for f in files), sum(count_frames(f) for f in files)


def variant_run(urls: list[str], work: Path, code: Path, recorder_only: bool) -> Running:
    """The vsnative of another checkout (`--variant`)."""
    return VsnativeRun(urls, work, recorder_only, code)


def start_floor(urls: list[str], work: Path) -> Running:
    """bench/pyav_floor.py: PyAV's own demux + mux with no vsnative around it."""
    work.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "pyav_floor.py"), str(work), *urls],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    return SegmentsRun([proc], len(urls), lambda: sorted(work.glob("cam*/*.mp4")))


def start_probe(urls: list[str], work: Path) -> Running:
    """bench/rtsp_probe.py: the same streams read in large chunks by one Python thread and remuxed."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "rtsp_probe.py"), "--mux", str(work), *urls],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    return SegmentsRun([proc], len(urls), lambda: sorted(work.glob("cam*/*.mp4")))


def start_ffmpeg(urls: list[str], work: Path) -> Running:
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
    return SegmentsRun(
        procs,
        len(urls),
        lambda: [f for i in range(len(urls)) for f in sorted((work / f"ff{i:02d}").glob("*.mp4"))],
    )


def measure(runs: list[Running], seconds: float, warmup: float, count: bool, check: bool) -> list[Result]:
    """Measure recorders that run at the same time over one window; stop them; count frames if asked."""
    results = []
    try:
        time.sleep(warmup)
        cpu0 = [sum(cpu_seconds(pid) for pid in run.pids()) for run in runs]
        t0 = time.monotonic()
        time.sleep(seconds)
        cpu = [sum(cpu_seconds(pid) for pid in run.pids()) - c0 for run, c0 in zip(runs, cpu0, strict=True)]
        minutes = (time.monotonic() - t0) / 60
        rss = [sum(rss_mb(pid) for pid in run.pids()) for run in runs]
        drops = [run.drops() for run in runs]
    finally:
        for run in runs:
            run.stop()
    for run, c, r, d in zip(runs, cpu, rss, drops, strict=True):
        if d:
            print(f"  vsnative fan-out drops: {d}")
        expected, recorded = run.frames() if count else (0, 0)
        files = run.files() if count and check else []
        damaged = sum(1 for f in files if decode_warnings(f))
        results.append(Result(c / run.n / minutes, r / run.n, r, expected, recorded, len(files), damaged))
    return results


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
    parser.add_argument(
        "--together",
        action="store_true",
        help="run the recorders at the same time, each on its own N cameras of one camera server (which "
        "then serves N per recorder), so all see the same machine; rounds rotate the camera sets. "
        "Ratios then hold to about 2%% from round to round, against 10%% or more one after the other",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="also run bench/rtsp_probe.py: the same streams read in 256 KB chunks by one Python thread, "
        "depacketized and remuxed with PyAV into 5 s clips (what leaving FFmpeg's RTSP-over-TCP reader "
        "would save)",
    )
    parser.add_argument(
        "--source",
        choices=["file", "x264-sliced"],
        default="file",
        help="the cameras: the 1080p file (whole pictures, one packet each) or a live x264 encoder with "
        "sliced threads and parameter sets before every IDR slice (1080p25, 4 Mb/s, 2 s GOP; every camera "
        "of a run is a client of that one shared stream)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=CHECKOUT",
        help="also run the vsnative of another checkout (e.g. a worktree of an earlier commit) as NAME, "
        "to compare two versions side by side in one run",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="decode every clip at ffmpeg -v warning and count the damaged ones (slow: a second of CPU per "
        "1080p clip; always on with --source x264-sliced)",
    )
    args = parser.parse_args()
    args.check = args.check or args.source != "file"
    starters: dict[str, Callable[[list[str], Path], Running]] = {
        "vsnative": lambda urls, work: VsnativeRun(urls, work, args.recorder_only),
        "ffmpeg": start_ffmpeg,
    }
    for variant in args.variant:
        name, _, checkout = variant.partition("=")
        starters[name] = functools.partial(
            variant_run, code=Path(checkout).resolve(), recorder_only=args.recorder_only
        )
    if args.floor:
        starters["floor"] = start_floor
    if args.probe:
        starters["probe"] = start_probe
    names = list(starters)
    extra = [name for name in names if name not in ("vsnative", "ffmpeg")]
    sets = len(names) if args.together else 1  # camera sets served
    with tempfile.TemporaryDirectory(prefix="vsn-bench-") as tmp:
        base = Path(tmp)
        most = max(args.cameras) * sets
        if args.source == "file":
            media = make_media(base).h264_1080  # 1080p25 H.264 Main, 4 Mb/s, 2 s GOP
            mounts = {f"/cam{i:02d}": str(media) for i in range(most)}
        extra_head = "".join(f" {name:>8}" for name in extra)
        mode = "at the same time" if args.together else "one after the other"
        print(f"CPU-seconds per stream-minute, RSS per camera: medians of {args.rounds} round(s), {mode}")
        print(
            f"{'cameras':>7} | {'CPU s/stream-min':>26}{' ' * len(extra_head)} | "
            f"{'RSS MB/camera':>22} | {'frames lost':>18}"
        )
        print(
            f"{'':>7} | {'vsnative':>8} {'ffmpeg':>8} {'ratio':>8}{extra_head} | "
            f"{'vsnative':>7} {'ffmpeg':>7} {'ratio':>6} | {'vsnative':>8} {'ffmpeg':>8}"
        )
        for n in args.cameras:
            results: dict[str, list[Result]] = {name: [] for name in names}
            ratios: list[float] = []
            server = (
                FakeCamera(dict(list(mounts.items())[: n * sets]))  # a fresh server per size
                if args.source == "file"
                else ZooServer([SLICED_1080])
            )
            with server as cam, contextlib.ExitStack() as stack:
                if args.source == "file":
                    urls = [cam.url(f"/cam{i:02d}") for i in range(n * sets)]
                else:
                    urls = [cam.url(SLICED_1080.path)] * (n * sets)
                    # one client holds the live stream open: recorders that connect at once to a shared
                    # stream that is still starting are refused by GStreamer's server now and then
                    stack.enter_context(Watcher(urls[0]))
                for r in range(args.rounds):
                    count = r == 0  # frames are counted in the first round only (ffprobe is slow)
                    order = names[r % len(names) :] + names[: r % len(names)]
                    if args.together:  # recorder k of the rotated order takes camera set k
                        runs: list[Running] = []
                        try:
                            for k, name in enumerate(order):
                                runs.append(
                                    starters[name](urls[k * n : (k + 1) * n], base / f"{name}{n}-{r}")
                                )
                        except BaseException:  # stop what did start
                            for run in runs:
                                run.stop()
                            raise
                        done = dict(
                            zip(
                                order,
                                measure(runs, args.seconds, args.warmup, count, args.check),
                                strict=True,
                            )
                        )
                    else:
                        done = {
                            name: measure(
                                [starters[name](urls, base / f"{name}{n}-{r}")],
                                args.seconds,
                                args.warmup,
                                count,
                                args.check,
                            )[0]
                            for name in order
                        }
                    for name in names:
                        results[name].append(done[name])
                        shutil.rmtree(base / f"{name}{n}-{r}", ignore_errors=True)
                    ratios.append(
                        done["vsnative"].cpu_per_stream_minute / done["ffmpeg"].cpu_per_stream_minute
                    )
                    if args.rounds > 1:
                        cells = "  ".join(f"{name} {done[name].cpu_per_stream_minute:.3f}" for name in names)
                        print(f"  round {r + 1}: {cells}  ratio {ratios[-1]:.2f}", flush=True)
            cpu = {k: statistics.median(x.cpu_per_stream_minute for x in v) for k, v in results.items()}
            rss = {k: statistics.median(x.rss_per_camera_mb for x in v) for k, v in results.items()}
            lost = {k: v[0].lost for k, v in results.items()}  # counted in the first round
            extra_cells = "".join(f" {cpu[name]:8.3f}" for name in extra)
            print(
                f"{n:>7} | {cpu['vsnative']:8.3f} {cpu['ffmpeg']:8.3f} "
                f"{statistics.median(ratios):8.2f}{extra_cells} | "
                f"{rss['vsnative']:7.1f} {rss['ffmpeg']:7.1f} "
                f"{rss['vsnative'] / rss['ffmpeg']:6.2f} | {lost['vsnative']:8d} {lost['ffmpeg']:8d}",
                flush=True,
            )
            if extra:
                cells = ", ".join(
                    f"{name} {lost[name]} lost, RSS {rss[name]:.1f} MB/camera" for name in extra
                )
                print(f"{'':>7}   {cells}", flush=True)
            if args.check:
                damaged = ", ".join(f"{k} {v[0].damaged}/{v[0].clips}" for k, v in results.items())
                print(f"{'':>7}   clips with a line at ffmpeg -v warning: {damaged}", flush=True)


if __name__ == "__main__":
    main()
