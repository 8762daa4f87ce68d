"""Detection cost: the raw onnxruntime loop vs the whole vsnative detector path, on the same frames.

Raw: `session.run` on tensors prepared beforehand (the model alone). vsnative: from the camera's
compressed keyframe: decode -> scale (FAST_BILINEAR) -> letterbox -> infer -> decode boxes -> NMS ->
filters -> tracker -> alert bus (the event messages). Prints frames per second for both and their ratio,
the tracker's own time per picture, and the CPU one 1080p camera costs with keyframe-only detection (2 s
GOP).

    .venv/bin/python bench/detect.py [--model ../shared/models/yolov3-tiny-coco-v5-320.onnx] [--frames 100]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import scene  # noqa: E402
from tests.support.media import make_media  # noqa: E402
from vsnative.alerters.base import Alert  # noqa: E402
from vsnative.alerters.bus import AlertBus, AlertsConfig  # noqa: E402
from vsnative.detectors.base import Detection  # noqa: E402
from vsnative.detectors.onnx_yolo import OnnxYolo, OnnxYoloConfig, letterbox  # noqa: E402
from vsnative.media.decode import FrameDecoder  # noqa: E402
from vsnative.media.packets import EncodedPacket, MediaTrack, StreamInfo  # noqa: E402
from vsnative.streamers.detect import DetectorStreamerConfig, keep  # noqa: E402
from vsnative.tracking import Tracker  # noqa: E402

GOP_SECONDS = 2.0


def keyframes(path: Path) -> list[EncodedPacket]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        track = MediaTrack(
            0,
            "video",
            "h264",
            s.time_base or __import__("fractions").Fraction(1, 25),
            s.codec_context.width,
            s.codec_context.height,
        )
        info = StreamInfo(1, (track,), 0.0)
        return [
            EncodedPacket(info, 0, bytes(p), i, i, True, time.time())
            for i, p in enumerate(c.demux(s))
            if p.is_keyframe and p.size
        ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", type=Path, default=ROOT.parent / "shared" / "models" / "yolov3-tiny-coco-v5-320.onnx"
    )
    parser.add_argument("--names", type=Path, default=ROOT.parent / "shared" / "models" / "coco.names")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        media = make_media(Path(tmp))
        packets = keyframes(media.h264_1080)
    config = DetectorStreamerConfig.model_validate(
        {
            "detector": {
                "type": "onnxYolo",
                "model": str(args.model),
                "classNames": str(args.names),
                "threads": args.threads,
            }
        }
    )
    detector = OnnxYolo(OnnxYoloConfig.model_validate(config.detector.model_dump()))
    detector.load()
    decoder = FrameDecoder(packets[0].info, config.maxWidth)
    work = [packets[i % len(packets)] for i in range(args.frames)]
    images = [decoder.decode(p, True) for p in work[: len(packets)]]
    tensors = [letterbox(images[i % len(images)], detector.size)[0] for i in range(args.frames)]  # type: ignore[arg-type]

    session, name = detector.session, detector.input_name
    session.run(None, {name: tensors[0]})
    rounds = 5  # raw and vsnative taken in turns: the machine's drift (clocks, neighbours) hits both
    raw_s = raw_cpu = frames_s = 0.0

    tracking_s = [0.0]  # the tracker's own time, over both runs

    def track(tracker: Tracker, bus: AlertBus, at: float, found: list[Detection], image: Any) -> int:
        started = time.perf_counter()
        messages = tracker.update(at, found, image)
        tracking_s[0] += time.perf_counter() - started
        return sum(bus.publish(Alert("cam", "cam", m)) for m in messages)

    async def full_path() -> tuple[float, float, int]:
        bus = AlertBus(AlertsConfig(queueSize=10_000), [], None)
        tracker = Tracker(config.tracking, config.zones)
        t0, c0 = time.perf_counter(), time.process_time()
        published = 0
        for i, packet in enumerate(work):
            image = decoder.decode(packet, True)
            assert image is not None
            found = [d for d in detector.detect(image) if keep(d, config)]
            published += track(tracker, bus, i * GOP_SECONDS, found, image)
        return time.perf_counter() - t0, time.process_time() - c0, published

    async def from_frames(bus: AlertBus, tracker: Tracker, indexes: range) -> float:
        t0 = time.perf_counter()
        for i in indexes:
            image = images[i % len(images)]
            assert image is not None
            found = [d for d in detector.detect(image) if keep(d, config)]
            track(tracker, bus, i * GOP_SECONDS, found, image)
        return time.perf_counter() - t0

    bus = AlertBus(AlertsConfig(queueSize=10_000), [], None)
    tracker = Tracker(config.tracking, config.zones)
    for r in range(rounds):
        indexes = range(r * args.frames // rounds, (r + 1) * args.frames // rounds)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in indexes:
            session.run(None, {name: tensors[i]})
        raw_s, raw_cpu = raw_s + time.perf_counter() - t0, raw_cpu + time.process_time() - c0
        frames_s += asyncio.run(from_frames(bus, tracker, indexes))
    full_s, full_cpu, alerts = asyncio.run(full_path())
    raw_fps, full_fps = args.frames / raw_s, args.frames / full_s
    per_keyframe_cpu = full_cpu / args.frames
    print(
        f"model {args.model.name}, input {detector.size}, onnxruntime threads {args.threads}, "
        f"{args.frames} frames of 1080p H.264 keyframes"
    )
    print(f"raw onnxruntime loop : {raw_fps:7.1f} frames/s  ({raw_cpu / args.frames * 1000:.1f} ms CPU each)")
    print(
        f"vsnative full path   : {full_fps:7.1f} frames/s  ({per_keyframe_cpu * 1000:.1f} ms CPU each, "
        f"{alerts} event messages)"
    )
    frames_fps = args.frames / frames_s
    print(
        f"vsnative from frames : {frames_fps:7.1f} frames/s  (the same decoded frames: letterbox, infer, "
        f"boxes, NMS, filters, tracker, alert bus)"
    )
    print(f"tracker (above)      : {tracking_s[0] / (2 * args.frames) * 1e6:7.1f} us per picture")
    print(f"ratio from the same decoded frames: {frames_fps / raw_fps:5.2f}  (target >= 0.9)")
    print(f"ratio including H.264 decoding    : {full_fps / raw_fps:5.2f}")
    print(
        f"keyframe-only detection, 1080p camera, {GOP_SECONDS:g} s GOP: "
        f"{per_keyframe_cpu / GOP_SECONDS * 100:.1f}% of one core per camera"
    )
    scene_tracking(detector, config)


def scene_tracking(detector: OnnxYolo, config: DetectorStreamerConfig) -> None:
    """The tracker on what the model finds in the scripted scene of real photos (tests/support/scene.py;
    the 1080p test pictures above hold nothing a COCO model finds), a keyframe a second, looped."""
    found = [
        [d for d in detector.detect(scene.frame(float(s))) if keep(d, config)]
        for s in range(int(scene.SECONDS))
    ]
    loops = 50
    tracker = Tracker(config.tracking, config.zones)
    messages = 0
    started = time.perf_counter()
    for loop in range(loops):
        for s, detections in enumerate(found):
            messages += len(tracker.update(loop * scene.SECONDS + s, detections))
    spent = time.perf_counter() - started
    pictures = loops * len(found)
    print(
        f"tracker on the scene   : {spent / pictures * 1e6:7.1f} us per picture "
        f"({sum(map(len, found)) / len(found):.1f} detections a picture, {messages} event messages "
        f"over {loops} loops of {len(found)} s)"
    )


if __name__ == "__main__":
    main()
