"""The scripted scene of real photos (tests/support/scene.py) through the whole service with the shared
yolov3-tiny: the truth (what was in view when) next to the events the service stored, for a person to read.

    .venv/bin/python bench/scene.py [--seconds 40] [--pipeline-json '{"tracking": {...}}']

Times are seconds into the scene; the scene's time 0 on the recording's timeline is taken from the first
event whose label is the person's (the first picture is dated by arrival, before the camera's first RTCP
sender report). Prints one line per appearance and one per event.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.camera import FakeCamera  # noqa: E402
from tests.support.scene import FPS, SCRIPT, scene_video  # noqa: E402
from tests.support.service import Service, write_settings  # noqa: E402

MODELS = ROOT.parent / "shared" / "models"


def events(service: Service) -> list[dict[str, Any]]:
    url = f"{service.base}/api/events?camera=scene&kind=detection&limit=1000"
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
        found: list[dict[str, Any]] = json.loads(resp.read())["events"]
    return sorted(found, key=lambda e: e.get("start", e["timestamp"]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=42.0, help="how long to watch the scene")
    parser.add_argument("--streamer-json", default="{}", help="more settings of the detector streamer")
    args = parser.parse_args()
    detector = {
        "type": "detector",
        "detector": {
            "type": "onnxYolo",
            "model": str(MODELS / "yolov3-tiny-coco-v5-320.onnx"),
            "classNames": str(MODELS / "coco.names"),
            "labels": ["person", "cat", "cup"],
        },
        **json.loads(args.streamer_json),
    }
    streamers = [{"type": "mp4Recorder"}, detector]
    pipeline = {"defaults": {"streamers": streamers, "alerters": [{"type": "snapshot"}]}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video = scene_video(folder / "scene.h264")
        camera = FakeCamera({"/scene": f"{video},fps={FPS}"}).start()
        try:
            settings = write_settings(
                folder / "settings", [{"id": "scene", "rtspUrl": camera.url("/scene")}], pipeline
            )
            service = Service(settings, folder / "recordings").start()
            try:
                time.sleep(args.seconds)
                found = events(service)
            finally:
                service.stop()
        finally:
            camera.stop()
    people = [e for e in found if e["label"] == "person"]
    first_person = min(a.start for a in SCRIPT if a.label == "person")
    zero = people[0].get("start", people[0]["timestamp"]) - first_person if people else 0.0
    print("truth (seconds into the scene):")
    for a in sorted(SCRIPT, key=lambda a: a.start):
        print(f"  {a.label:7s} in view {a.start:5.1f} .. {a.end:5.1f}")
    print(f"events stored ({len(found)}):")
    for e in found:
        start = e.get("start", e["timestamp"]) - zero
        end = e.get("end")
        shown = f"{end - zero:5.1f}" if end is not None else "  -  "
        reason = e.get("endReason") or ("in progress" if e.get("inProgress") else "no end")
        print(f"  {e['label']:7s} {start:5.1f} .. {shown}  ({reason}, confidence {e['confidence']:.2f})")


if __name__ == "__main__":
    main()
