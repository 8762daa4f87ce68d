"""The motion detector and the streamer's filters (area, confidence; zones: tests/test_zones.py)."""

from __future__ import annotations

import numpy as np

from vsnative.detectors.base import Detection
from vsnative.detectors.motion import MotionConfig, MotionDetector
from vsnative.streamers.detect import DetectorStreamerConfig, keep


def test_motion_only_when_the_picture_changes() -> None:
    motion = MotionDetector(MotionConfig())
    still = np.full((360, 640, 3), 100, np.uint8)
    assert motion.detect(still) == []  # nothing to compare with yet
    assert motion.detect(still.copy()) == []
    moved = still.copy()
    moved[200:280, 320:400] = 250
    (found,) = motion.detect(moved)
    assert found.label == "motion"
    x1, y1, x2, y2 = found.box
    assert abs(x1 - 320 / 640) < 0.02
    assert abs(y1 - 200 / 360) < 0.02
    assert abs(x2 - 400 / 640) < 0.02
    assert abs(y2 - 280 / 360) < 0.02


def test_sensor_noise_is_not_motion() -> None:
    rng = np.random.default_rng(1)
    motion = MotionDetector(MotionConfig())
    base = np.full((360, 640, 3), 100, np.int16)
    for _ in range(3):
        noisy = np.clip(base + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)
        assert motion.detect(noisy) == []


def config(**kw: object) -> DetectorStreamerConfig:
    return DetectorStreamerConfig.model_validate({"detector": {"type": "motion"}, **kw})


def test_minimum_area_and_per_label_confidence() -> None:
    cfg = config(minArea=0.01, minConfidence={"car": 0.7})
    assert not keep(Detection("person", 0.9, (0.0, 0.0, 0.05, 0.05)), cfg)  # 0.0025 of the picture
    assert keep(Detection("person", 0.3, (0.0, 0.0, 0.2, 0.2)), cfg)
    assert not keep(Detection("car", 0.6, (0.0, 0.0, 0.2, 0.2)), cfg)
    assert keep(Detection("car", 0.75, (0.0, 0.0, 0.2, 0.2)), cfg)
