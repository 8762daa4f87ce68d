"""What answering through the API's models costs (`spec.reply`: the agents' dicts read through pydantic and
dumped), side by side with the baseline it replaced (`web.json_response` of the dicts as they are), for
`GET /api/agents` of a full pod: `--agents` agents, each detecting `--objects` tracked objects (the most a
tracker keeps), 4 parts, a live view with audio.

    .venv/bin/python bench/api_models.py [--agents 64] [--objects 32] [--repeat 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from vsnative.api.schemas import AgentList  # noqa: E402
from vsnative.api.spec import reply  # noqa: E402


def agent(i: int, objects: int) -> dict[str, Any]:
    """One agent's snapshot as Agent.snapshot() makes it (the fields it has, with busy values)."""
    tracked = [
        {
            "id": n,
            "label": "person",
            "confidence": 0.8123,
            "box": [0.1, 0.2, 0.3, 0.6],
            "firstSeen": 1.8e9,
            "lastSeen": 1.8e9 + 5,
            "stationary": False,
            "zones": ["driveway"],
            "dwellSeconds": {"driveway": 4.5},
            "eventId": f"{n:032x}",
        }
        for n in range(objects)
    ]
    part = {"state": "running", "reason": None, "failures": 0, "lastFailure": None, "since": 1_800_000_000}
    return {
        "cameraId": f"cam{i:03d}",
        "name": f"Camera {i}",
        "manager": "pod-1",
        "agentId": f"agent-{i}",
        "framerType": "rtsp",
        "state": "running",
        "healthy": True,
        "failure": None,
        "lastError": "",
        "lastErrorDetail": "",
        "startupTime": 1_800_000_000,
        "uptime": 3600,
        "video": {"codec": "h264", "width": 1920, "height": 1080},
        "streamers": ["mp4Recorder", "webrtc", "detector"],
        "counters": {
            "packets": 900_000,
            "keyframes": 1800,
            "bytes": 9_000_000_000,
            "clips": 720,
            "reconnects": 1,
            "recovered": 0,
            "unrecoverable": 0,
            "last_clip_end": 1.8e9,
            "drops": 0,
            "lost": {"framer": 0, "recorder": 0, "live": 0, "fenced": 0, "detector": 0},
        },
        "viewers": 1,
        "liveView": {
            "available": True,
            "reason": None,
            "audio": {"codec": "pcm_mulaw", "relayed": True, "reason": None},
        },
        "parts": [{"name": n, **part} for n in ("webrtc", "detector", "mqtt", "webhook")],
        "health": {
            "availability": "online",
            "recording": {"ok": True, "lastClipAge": 1.2, "deadline": 12.0},
            "live": "running",
            "detection": "running",
        },
        "route": {"framerThread": ["mp4Recorder", "gop"], "eventLoop": ["webrtc", "detector"]},
        "detection": {
            "state": "running",
            "reason": None,
            "framesAnalysed": 1800,
            "inferenceP50Ms": 21.5,
            "detections": 5000,
            "staleSkipped": 0,
            "motionGated": 100,
            "eventsStarted": 40,
            "eventsEnded": 38,
            "objects": tracked,
            "untracked": 0,
            "alerts": {"events": 40, "published": 40, "suppressed": 0, "dropped": 0, "notices": 2},
        },
        "snapshots": {"decodes": 300, "failures": 0},
    }


def timed(run: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=64)
    parser.add_argument("--objects", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    body = {
        "maxAgents": args.agents,
        "manager": "pod-1",
        "agents": [agent(i, args.objects) for i in range(args.agents)],
        "unreachable": [],
    }
    baseline = web.json_response(body)
    modelled = reply(AgentList, body)
    plain_body, modelled_body = bytes(baseline.body), bytes(modelled.body)  # type: ignore[arg-type]
    assert json.loads(plain_body) == json.loads(modelled_body), "the model changed the answer"
    size = len(modelled_body)
    plain = timed(lambda: web.json_response(body), args.repeat)
    through = timed(lambda: reply(AgentList, body), args.repeat)
    print(f"/api/agents of {args.agents} agents x {args.objects} objects: {size / 1e6:.2f} MB of JSON")
    print(f"web.json_response of the dicts (baseline): {plain:8.2f} ms (median of {args.repeat})")
    print(f"spec.reply through AgentList:              {through:8.2f} ms  ({through / plain:.2f}x)")


if __name__ == "__main__":
    main()
