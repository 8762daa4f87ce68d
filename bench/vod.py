"""The HLS playlist of 7 days of one camera (`/api/cameras/{id}/vod.m3u8`): how long it takes to answer,
the first time (each day's index read) and again (days kept while unchanged). Target: under 200 ms.

Builds a recordings folder of `--days` days of `--clip-seconds` clips (empty files named as the recorder
names them, and their index lines as it writes them, with `init`/`mediaEnd`), then times what the handler
runs in its worker thread: Playlists.build (the clip index's days, each day's text kept).

    .venv/bin/python bench/vod.py [--days 7] [--clip-seconds 5] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vsnative.clips import ClipIndex  # noqa: E402
from vsnative.media.boxes import layout  # noqa: E402
from vsnative.media.clip import MP4_OPTIONS  # noqa: E402
from vsnative.recordings import INDEX_NAME  # noqa: E402
from vsnative.vod import Playlists, timeline_segment  # noqa: E402


def make_recordings(root: Path, days: int, clip_seconds: float, end: float) -> int:
    camera = root / "cam"
    start = end - days * 86_400
    t = start
    count = 0
    lines: dict[Path, list[bytes]] = {}
    while t < end:
        moment = datetime.fromtimestamp(t, UTC)
        day = camera / moment.strftime("%Y-%m-%d")
        if day not in lines:
            day.mkdir(parents=True)
            lines[day] = []
        name = moment.strftime("%H-%M-%S") + ".mp4"
        (day / name).touch()
        entry = {
            "file": name,
            "start": round(t, 6),
            "duration": clip_seconds,
            "frames": int(clip_seconds * 25),
            "size": 620_000,
            "token": 1,
            "init": 813,
            "mediaEnd": 619_850,
            "config": "5f0c2a8e91d3b7a4",  # one camera's media all week: one EXT-X-MAP
        }
        lines[day].append(orjson.dumps(entry))
        t += clip_seconds
        count += 1
    for day, entries in lines.items():
        (day / INDEX_NAME).write_bytes(b"\n".join(entries) + b"\n")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--clip-seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    end = time.time() - 3600  # a finished range: a VOD playlist with its ENDLIST
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        made = time.perf_counter()
        count = make_recordings(root, args.days, args.clip_seconds, end)
        print(f"{count} clips over {args.days} days made in {time.perf_counter() - made:.1f} s")
        playlists = Playlists(ClipIndex(root))
        timings = []
        for _ in range(args.repeat + 1):
            started = time.perf_counter()
            text, listed = playlists.build("cam", end - args.days * 86_400, end)
            timings.append(time.perf_counter() - started)
        assert listed == count, (listed, count)
        assert text.endswith("#EXT-X-ENDLIST\n")
        print(f"playlist: {listed} clips, {len(text) / 1e6:.1f} MB")
        print(f"first answer (indexes read): {timings[0] * 1000:7.1f} ms")
        print(
            f"again (days kept), median of {args.repeat}: {statistics.median(timings[1:]) * 1000:7.1f} ms"
            "  (target < 200 ms)"
        )
        segment_figures(root, args.repeat * 4)


def segment_figures(root: Path, repeat: int) -> None:
    """One media segment as the API serves it (`timeline_segment`: the fragments read, their decode times
    moved) beside the baseline it replaced (the same byte range read as it is), for a 5 s 1080p clip at
    8 Mbit/s with AAC, made as the recorder makes clips."""
    clip = root / "segment" / "clip.mp4"
    clip.parent.mkdir()
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=25:d=5"),
            *("-f", "lavfi", "-i", "sine=d=5", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "8M"),
            *("-g", "50", "-bf", "0", "-c:a", "aac", "-movflags", MP4_OPTIONS["movflags"], "-f", "mp4"),
            str(clip),
        ],
        check=True,
        timeout=300,
    )
    parts = layout(clip)

    def plain() -> bytes:
        with open(clip, "rb") as fh:
            fh.seek(parts.init)
            return fh.read(parts.media_end - parts.init)

    def moved() -> bytes:
        return timeline_segment(clip, 86_400_000_000)

    assert len(plain()) == len(moved())
    for name, run in (("byte range read as it is (baseline)", plain), ("timeline_segment", moved)):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        size = parts.media_end - parts.init
        print(f"segment of {size / 1e6:.1f} MB, {name}: {statistics.median(times) * 1000:6.2f} ms")


if __name__ == "__main__":
    main()
