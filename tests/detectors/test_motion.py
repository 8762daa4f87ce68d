"""The motion detector and the streamer's filters (zones, area, confidence)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from pydantic import ValidationError

from vsnative.detectors.base import Detection
from vsnative.detectors.motion import MotionConfig, MotionDetector
from vsnative.streamers.detect import DetectorStreamerConfig, inside, keep


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


def test_zone_uses_the_bottom_centre_of_the_box() -> None:
    left_half = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
    cfg = config(zones=[left_half])
    assert keep(Detection("person", 0.9, (0.1, 0.1, 0.3, 0.9)), cfg)
    assert not keep(Detection("person", 0.9, (0.6, 0.1, 0.8, 0.9)), cfg)
    assert keep(Detection("person", 0.9, (0.3, 0.1, 0.6, 0.9)), cfg)  # centre 0.45: inside
    assert inside((0.25, 0.5), left_half)
    assert not inside((0.75, 0.5), left_half)


README_ZONE = [(0.0, 0.4), (1.0, 0.4), (1.0, 1.0), (0.0, 1.0)]  # the README's example: the lower 60%


@pytest.mark.parametrize(
    ("box", "why"),
    [
        ((0.3, 0.2, 0.5, 1.0), "feet on the picture's bottom edge (the filed case: the 0.96 person box)"),
        ((0.9, 0.3, 1.0, 0.7), "bottom centre at x = 0.95, inside"),
        ((0.0, 0.1, 0.0, 0.6), "a sliver on the left edge: bottom centre at x = 0.0"),
        ((0.98, 0.1, 1.0, 1.0), "bottom right corner of the picture"),
        ((0.2, 0.0, 0.4, 0.4), "bottom centre on the zone's top border"),
    ],
)
def test_a_zone_takes_boxes_on_its_borders(box: tuple[float, float, float, float], why: str) -> None:
    assert keep(Detection("person", 0.9, box), config(zones=[README_ZONE])), why


def test_just_outside_a_zone_is_outside() -> None:
    cfg = config(zones=[README_ZONE])
    assert not keep(Detection("person", 0.9, (0.2, 0.0, 0.4, 0.399)), cfg)
    triangle = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]
    assert inside((0.5, 0.5), triangle)  # on the diagonal border
    assert not inside((0.51, 0.51), triangle)
    assert inside((0.0, 0.0), triangle)  # a vertex


@pytest.mark.parametrize(
    ("zones", "message"),
    [
        ([[(0.0, 0.0), (1.0, 0.5)]], "zone 0 has 2 points"),
        ([[(0.0, 0.0), (1.5, 0.0), (1.0, 1.0)]], "point (1.5, 0) is outside the picture"),
        ([README_ZONE, [(0.0, -0.1), (1.0, 0.0), (1.0, 1.0)]], "zone 1: point (0, -0.1)"),
    ],
)
def test_zones_are_checked_when_the_settings_are_read(zones: object, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        config(zones=zones)


def test_minimum_area_and_per_label_confidence() -> None:
    cfg = config(minArea=0.01, minConfidence={"car": 0.7})
    assert not keep(Detection("person", 0.9, (0.0, 0.0, 0.05, 0.05)), cfg)  # 0.0025 of the picture
    assert keep(Detection("person", 0.3, (0.0, 0.0, 0.2, 0.2)), cfg)
    assert not keep(Detection("car", 0.6, (0.0, 0.0, 0.2, 0.2)), cfg)
    assert keep(Detection("car", 0.75, (0.0, 0.0, 0.2, 0.2)), cfg)
