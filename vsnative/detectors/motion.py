"""`motion`: cheap frame differencing on small grey pictures; alone, or as a gate before a model."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vsnative.detectors.base import DETECTORS, Detection, Detector

WIDTH = 160  # pictures are compared at this width


class MotionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["motion"] = "motion"
    threshold: int = Field(25, ge=1, le=255, description="grey-level change that counts as a changed pixel")
    minChangedFraction: float = Field(0.005, gt=0, le=1)


@DETECTORS.register("motion")
class MotionDetector(Detector):
    config_model = MotionConfig
    config: MotionConfig

    def __init__(self, config: MotionConfig) -> None:
        super().__init__(config)
        self._previous: np.ndarray | None = None

    def detect(self, image: np.ndarray) -> list[Detection]:
        w = image.shape[1]
        step = max(1, w // WIDTH)
        grey = image[::step, ::step].astype(np.int16).mean(axis=2)
        previous, self._previous = self._previous, grey
        if previous is None or previous.shape != grey.shape:
            return []
        changed = np.abs(grey - previous) > self.config.threshold
        fraction = float(changed.mean())
        if fraction < self.config.minChangedFraction:
            return []
        ys, xs = np.nonzero(changed)
        gh, gw = grey.shape
        box = (xs.min() / gw, ys.min() / gh, (xs.max() + 1) / gw, (ys.max() + 1) / gh)
        return [Detection("motion", min(1.0, fraction / self.config.minChangedFraction / 10), box)]
