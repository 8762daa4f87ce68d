"""Detector plugin kind: RGB picture in, labelled boxes out (blocking; runs in the detection pool)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from vsnative.errors import PluginError
from vsnative.registry import Registry


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    confidence: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 relative to the picture (0..1)

    def __post_init__(self) -> None:
        # detectors compute with numpy; what leaves them is plain Python (JSON encoders refuse numpy's
        # numbers: the MQTT alerter died on the motion detector's numpy.float64 boxes)
        object.__setattr__(self, "label", str(self.label))
        object.__setattr__(self, "confidence", float(self.confidence))
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


class Detector(ABC):
    config_model: ClassVar[type[BaseModel]]

    def __init__(self, config: Any) -> None:
        self.config = config

    def load(self) -> None:  # noqa: B027 - optional hook: a detector without a model has nothing to load
        """Open the model and warm it up (blocking). Raises PluginError with a clear reason."""

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detections in an RGB uint8 HxWx3 picture (blocking)."""


def onnx_session(kind: str, path: Path, threads: int) -> Any:
    """An onnxruntime CPU session for a model file, or PluginError with a clear reason.

    onnxruntime is imported here, when a configured detector is built, not when vsnative starts."""
    import onnxruntime as ort

    if not path.is_file():
        raise PluginError(f"{kind}: model file {path} not found")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise PluginError(f"{kind}: cannot load {path}: {exc}") from exc


DETECTORS: Registry[Detector] = Registry("detector")
