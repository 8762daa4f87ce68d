"""`ssdPerson`: TensorFlow Object Detection API graphs exported to ONNX (SSD, SSDlite...), such as the
pedestrian SSDlite-MobileNetV2 in shared/models: uint8 NHWC input of any size, NMS inside the graph,
outputs `num_detections`, `detection_boxes` (ymin, xmin, ymax, xmax, 0..1), `detection_scores`,
`detection_classes`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vsnative.detectors.base import DETECTORS, Detection, Detector, onnx_session
from vsnative.errors import PluginError

OUTPUTS = ("num_detections", "detection_boxes", "detection_scores", "detection_classes")


class SsdConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["ssdPerson"] = "ssdPerson"
    model: Path
    confidence: float = Field(0.5, gt=0, le=1)
    classes: dict[int, str] = Field(
        default_factory=lambda: {1: "person"}
    )  # class id -> label; others dropped
    threads: int = Field(2, ge=1, le=64)


@DETECTORS.register("ssdPerson")
class SsdDetector(Detector):
    config_model = SsdConfig
    config: SsdConfig

    def __init__(self, config: SsdConfig) -> None:
        super().__init__(config)
        self.session: Any = None
        self.names: dict[str, str] = {}

    def load(self) -> None:
        path = self.config.model
        self.session = onnx_session("ssdPerson", path, self.config.threads)
        outputs = [o.name for o in self.session.get_outputs()]
        for wanted in OUTPUTS:  # TF exports name them `detection_boxes:0`...
            match = next((o for o in outputs if o.split(":")[0] == wanted), None)
            if match is None:
                raise PluginError(f"ssdPerson: {path.name} has no {wanted} output (outputs: {outputs})")
            self.names[wanted] = match
        self.input_name = self.session.get_inputs()[0].name
        self.detect(np.zeros((64, 64, 3), np.uint8))  # warm-up

    def detect(self, image: np.ndarray) -> list[Detection]:
        if self.session is None:
            raise PluginError("ssdPerson: load() first")
        fetch = [self.names[o] for o in OUTPUTS]
        count, boxes, scores, classes = self.session.run(fetch, {self.input_name: image[None]})
        found = []
        for i in range(int(count[0])):
            label = self.config.classes.get(int(classes[0][i]))
            if label is None or scores[0][i] < self.config.confidence:
                continue
            ymin, xmin, ymax, xmax = (float(v) for v in boxes[0][i])
            found.append(Detection(label, float(scores[0][i]), (xmin, ymin, xmax, ymax)))
        return found
