"""The camera zoo, recorded and watched: one row per camera of what a user would check.

Starts the live-encoding zoo cameras (tests/support/zoo.py) and the detailed 1080p camera, records them
all with one `vsnative serve` for `--seconds`, watches each once with a decoding aiortc viewer while it
records, then checks every clip at `ffmpeg -v warning` and counts frames.

    .venv/bin/python bench/zoo.py --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.camera import FakeCamera  # noqa: E402
from tests.support.media import make_detailed_1080  # noqa: E402
from tests.support.service import Service, write_settings  # noqa: E402
from tests.support.zoo import FPS, ZOO, ZooServer  # noqa: E402
from tests.support.zoo_check import LiveRow, assess_recording, watch  # noqa: E402
from vsnative.webrtc.ice import offer_host_addresses  # noqa: E402

DETAIL = "file-1080-detail"


async def watch_all(service: Service, cameras: list[str], seconds: float) -> dict[str, LiveRow]:
    rows = {}
    for camera in cameras:  # one after the other: a 2-core machine decodes one 1080p viewer at a time
        rows[camera] = await watch(f"{service.base}/api/cameras/{camera}/whep", seconds, FPS)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30, help="how long to record")
    parser.add_argument("--watch", type=float, default=4, help="seconds each camera is watched")
    parser.add_argument("--cameras", nargs="*", default=[*ZOO, DETAIL])
    parser.add_argument("--keep", type=Path, help="record into this folder and keep it (log, clips)")
    args = parser.parse_args()
    offer_host_addresses(["127.0.0.1"])
    with tempfile.TemporaryDirectory(prefix="vsn-zoo-") as tmp:
        folder = Path(tmp) if args.keep is None else args.keep
        folder.mkdir(parents=True, exist_ok=True)
        detail = make_detailed_1080(folder)
        zoo = [ZOO[name] for name in args.cameras if name in ZOO]
        with ZooServer(zoo) as server, FakeCamera({"/detail": str(detail)}) as file_camera:
            cameras = [{"id": camera.name, "rtspUrl": server.url(camera.path)} for camera in zoo]
            if DETAIL in args.cameras:
                cameras.append({"id": DETAIL, "rtspUrl": file_camera.url("/detail")})
            pipeline = {
                "defaults": {"streamers": [{"type": "mp4Recorder"}, {"type": "webrtc", "maxViewers": 2}]}
            }
            settings = write_settings(folder / "settings", cameras, pipeline)
            service = Service(settings, folder / "rec", "--webrtc-host-addresses", "127.0.0.1").start()
            try:
                ids = [c["id"] for c in cameras]
                service.wait_for(
                    lambda: all(service.agents().get(i, {}).get("state") == "running" for i in ids),
                    30,
                    "cameras running",
                )
                started = time.monotonic()
                live = asyncio.run(watch_all(service, ids, args.watch))
                time.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
                agents = service.agents()
                sent = server.stats()
            finally:
                service.stop()
        print(
            f"{'camera':18} {'clips':>5} {'length s':>10} {'damaged':>7} {'frames rec/exp':>15} "
            f"{'gaps':>4} {'drops':>5} {'audio':>6}  live view"
        )
        for camera in ids:
            row = assess_recording(folder / "rec", camera, FPS)
            counters = agents.get(camera, {}).get("counters", {})
            length = f"{row.shortest:.1f}-{row.longest:.1f}"
            frames = f"{row.frames}/{row.expected}"
            print(
                f"{camera:18} {row.clips:5} {length:>10} {row.damaged:7} {frames:>15} {row.gaps:4} "
                f"{counters.get('drops', 0):5} {row.audio:>6}  {live[camera].result}"
            )
            for line in row.warnings[:2]:
                print(f"    clip: {line[:150]}")
            for line in live[camera].warnings[:2]:
                print(f"    live: {line[:150]}")
        print("camera sent:", {path: s["frames"] for path, s in sent.items()})


if __name__ == "__main__":
    main()
