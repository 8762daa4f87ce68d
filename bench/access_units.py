"""What joining whole pictures costs per demuxed packet, beside what the framer did before it.

Runs the real packets of a live-encoding zoo camera (x264 sliced threads: 4 slices a picture, parameter
sets before every IDR slice; its keyframes arrive as 4 packets) through `AccessUnits` in one thread, and,
as the baseline, the same packets through what the framer did per packet before (one EncodedPacket made
from the demuxed fields, keyframe from the demuxer's flag). Prints microseconds per packet for both,
P-frames and keyframe parts apart.

    .venv/bin/python bench/access_units.py --seconds 10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.zoo import ZOO, ZooServer  # noqa: E402
from vsnative.framers.rtsp import RtspFramer  # noqa: E402
from vsnative.media.access_units import AccessUnits  # noqa: E402
from vsnative.media.packets import EncodedPacket  # noqa: E402
from vsnative.models import Camera  # noqa: E402

REPEAT = 200


def capture(url: str, seconds: float) -> tuple[list[tuple[bytes, int | None, int | None, bool]], object]:
    framer = RtspFramer(Camera(id="bench", rtspUrl=url), RtspFramer.config_model())
    session = framer.open(1)
    packets = []
    container = session.container  # type: ignore[attr-defined]
    video = container.streams.video[0]
    deadline = time.monotonic() + seconds
    for packet in container.demux(video):
        if packet.size:
            packets.append((bytes(packet), packet.pts, packet.dts, packet.is_keyframe))
        if time.monotonic() > deadline:
            break
    info = session.info
    session.close()
    return packets, info


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    camera = ZOO["x264-sliced"]
    with ZooServer([camera]) as server:
        packets, info = capture(server.url(camera.path), args.seconds)
    packets = [p for p in packets if p[2] is not None]  # dated ones: the steady state
    assert isinstance(info.__class__, type)
    keyparts = sum(1 for p in packets if p[3])
    print(f"{len(packets)} packets ({keyparts} keyframe parts) from {camera.name}")

    def baseline() -> None:
        for data, pts, dts, key in packets:
            EncodedPacket(info, 0, data, pts or 0, dts or 0, key, 0.0, 0)  # type: ignore[arg-type]

    def joined() -> None:
        units = AccessUnits(info, 0, 3600)  # type: ignore[arg-type]
        ready = units.ready
        for data, pts, dts, _ in packets:
            units.push(data, pts, dts, 0.0, 0)
            while ready:
                ready.popleft()

    for name, run in (("before (EncodedPacket per packet)", baseline), ("AccessUnits.push", joined)):
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(REPEAT):
                run()
            best = min(best, (time.perf_counter() - started) / (REPEAT * len(packets)))
        print(f"{name:36} {best * 1e6:6.2f} us per packet")
    av.logging.set_level(None)


if __name__ == "__main__":
    main()
