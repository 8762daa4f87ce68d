"""The detector streamer on real encoded video: keyframes only by default, every frame at `fps`, and a
motion gate that keeps the model idle while nothing moves."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.support.media import ffmpeg
from tests.support.onnx_models import red_square_model
from tests.test_e2e_detect import red_square_video
from vsnative.counters import AgentCounters
from vsnative.media.packets import EncodedPacket, MediaTrack, StreamInfo
from vsnative.models import Camera
from vsnative.streamers.base import StreamerContext
from vsnative.streamers.detect import DetectorStreamer, DetectorStreamerConfig


def packets(path: Path) -> list[EncodedPacket]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        info = StreamInfo(1, (MediaTrack(0, "video", "h264", Fraction(1, 25), 640, 360),), 0.0)
        return [
            EncodedPacket(info, 0, bytes(p), i, i, bool(p.is_keyframe), i / 25)
            for i, p in enumerate(c.demux(s))
            if p.size
        ]


def still_video(path: Path) -> Path:
    ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "color=c=0x788c78:s=640x360:r=25:d=4,drawbox=x=300:y=100:w=80:h=80:color=0xEB191E@1:t=fill",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-bf",
            "0",
            "-f",
            "h264",
            str(path),
        ]
    )
    return path


@pytest.fixture
def streamer_for(tmp_path: Path) -> Iterator[object]:
    pool = ThreadPoolExecutor(1)
    model = red_square_model(tmp_path / "red.onnx")

    def make(**config: object) -> DetectorStreamer:
        cfg = DetectorStreamerConfig.model_validate(
            {"detector": {"type": "onnxYolo", "model": str(model)}, **config}
        )
        streamer = DetectorStreamer(
            cfg, StreamerContext(Camera(id="c"), tmp_path, pool, AgentCounters(), pool)
        )
        streamer.detector.load()
        return streamer

    yield make
    pool.shutdown()


def run(streamer: DetectorStreamer, video: list[EncodedPacket]) -> int:
    keyframes_only = streamer.config.fps is None
    found = 0
    for p in video:
        if keyframes_only and not p.keyframe:
            continue
        if streamer._process(p, keyframes_only) is not None:
            found += 1
    return found


def test_keyframes_only_by_default(streamer_for: object, tmp_path: Path) -> None:
    video = packets(red_square_video(tmp_path / "moving.h264", seconds=4))
    streamer = streamer_for()  # type: ignore[operator]
    assert run(streamer, video) == 4  # one keyframe a second
    assert streamer.pictures == 4


def test_fps_decodes_every_frame_and_detects_at_that_rate(streamer_for: object, tmp_path: Path) -> None:
    video = packets(red_square_video(tmp_path / "moving.h264", seconds=4))
    streamer = streamer_for(fps=5)  # type: ignore[operator]
    found = run(streamer, video)
    assert 19 <= found <= 21  # 4 s at 5 pictures a second
    assert streamer.pictures == found


def test_motion_gate_keeps_the_model_idle_on_a_still_scene(streamer_for: object, tmp_path: Path) -> None:
    still = packets(still_video(tmp_path / "still.h264"))
    gated = streamer_for(fps=5, motionGate={"type": "motion"})  # type: ignore[operator]
    assert run(gated, still) == 0
    assert gated.pictures == 0
    assert gated.gated >= 18
    moving = packets(red_square_video(tmp_path / "moving.h264", seconds=4))
    gated_moving = streamer_for(fps=5, motionGate={"type": "motion"})  # type: ignore[operator]
    assert run(gated_moving, moving) >= 15  # the square moves: the model runs and finds it
