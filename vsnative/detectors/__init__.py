"""Detectors: models that find things in decoded pictures (YOLO-family ONNX, motion)."""

from vsnative.detectors.base import DETECTORS, Detection, Detector

__all__ = ["DETECTORS", "Detection", "Detector"]
