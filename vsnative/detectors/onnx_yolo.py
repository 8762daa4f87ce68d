"""`onnxYolo`: any YOLO-family ONNX model from a path, its output layout recognised from the shapes.

Layouts: YOLOv5-style `[1, N, 5+nc]` (cx, cy, w, h, objectness, class scores), YOLOv8/11-style
`[1, 4+nc, N]` (channels first, no objectness) and end-to-end `[1, K, 6]` (x1, y1, x2, y2, score, class,
NMS done). Pictures are letterboxed (grey 114) to the model's input; NMS is class-aware.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vsnative.detectors.base import DETECTORS, Detection, Detector, onnx_session
from vsnative.errors import PluginError

log = logging.getLogger(__name__)
Layout = Literal["auto", "yolov5", "yolov8", "end2end"]


class OnnxYoloConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["onnxYolo"] = "onnxYolo"
    model: Path
    classNames: Path | None = None
    inputSize: int | None = Field(None, ge=32, le=4096)
    layout: Layout = "auto"
    confidence: float = Field(0.25, gt=0, le=1)
    iou: float = Field(0.45, gt=0, le=1)
    labels: list[str] | None = None  # only these labels are reported
    threads: int = Field(2, ge=1, le=64)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Fit image into size x size (aspect kept, grey 114 border): NCHW float32 0..1, scale, (pad x, pad y)."""
    h, w = image.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    ys = np.minimum((np.arange(nh) / scale).astype(np.int32), h - 1)
    xs = np.minimum((np.arange(nw) / scale).astype(np.int32), w - 1)
    resized = image[ys][:, xs]  # nearest neighbour: the decoder already scaled with FAST_BILINEAR
    canvas = np.full((size, size, 3), 114, dtype=np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    canvas[py : py + nh, px : px + nw] = resized
    tensor = canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return tensor, scale, (px, py)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> list[int]:
    """Class-aware non-maximum suppression on x1y1x2y2 boxes; indices kept, best first."""
    if len(boxes) == 0:
        return []
    shifted = boxes + (classes[:, None] * (boxes.max() + 1.0))  # boxes of different classes never overlap
    x1, y1, x2, y2 = shifted.T
    areas = (x2 - x1) * (y2 - y1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        xx1, yy1 = np.maximum(x1[i], x1[order[1:]]), np.maximum(y1[i], y1[order[1:]])
        xx2, yy2 = np.minimum(x2[i], x2[order[1:]]), np.minimum(y2[i], y2[order[1:]])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / (areas[i] + areas[order[1:]] - inter + 1e-9)
        order = order[1:][overlap <= iou]
    return keep


LAYOUTS_TRIED = "yolov5 [1, N, 5+classes], yolov8 [1, 4+classes, N], end2end [1, K, 6]"


def detect_layout(shape: tuple[int, ...]) -> Layout:
    if len(shape) != 3:
        raise PluginError(
            f"unknown YOLO output layout {list(shape)}: expected 3 dimensions "
            f"(layouts tried: {LAYOUTS_TRIED})"
        )
    _, a, b = shape
    if a > b:
        layout: Layout = "end2end" if b == 6 and a <= 1000 else "yolov5"
        if layout == "yolov5" and b < 6:
            raise PluginError(f"unknown YOLO output layout {list(shape)} (layouts tried: {LAYOUTS_TRIED})")
        return layout
    if a < 5:
        raise PluginError(f"unknown YOLO output layout {list(shape)} (layouts tried: {LAYOUTS_TRIED})")
    return "yolov8"


@DETECTORS.register("onnxYolo")
class OnnxYolo(Detector):
    config_model = OnnxYoloConfig
    config: OnnxYoloConfig

    def __init__(self, config: OnnxYoloConfig) -> None:
        super().__init__(config)
        self.session: Any = None
        self.size = 0
        self.layout: Layout = config.layout
        self.names: list[str] = []

    def load(self) -> None:
        path = self.config.model
        self.session = onnx_session("onnxYolo", path, self.config.threads)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise PluginError(f"onnxYolo: {path.name} must take one NCHW image input")
        height, width = inputs[0].shape[2:]
        static = isinstance(height, int) and isinstance(width, int)
        self.size = self.config.inputSize or (int(height) if static else 640)
        dims = tuple(d if isinstance(d, int) else -1 for d in outputs[0].shape)
        self.input_name = inputs[0].name
        try:  # the warm-up: a model that is not a YOLO detector shows it here, as an error of its own
            warm = self.session.run(
                None, {self.input_name: np.zeros((1, 3, self.size, self.size), np.float32)}
            )[0]
        except Exception as exc:
            raise PluginError(f"onnxYolo: {path.name} does not run as a YOLO detector: {exc}") from exc
        if self.layout == "auto":
            self.layout = detect_layout(tuple(warm.shape))
        nc = self._classes(warm.shape)
        if self.config.classNames is not None:
            try:
                self.names = [n.strip() for n in self.config.classNames.read_text().splitlines() if n.strip()]
            except (OSError, UnicodeDecodeError) as exc:
                raise PluginError(
                    f"onnxYolo: cannot read class names {self.config.classNames}: {exc}"
                ) from exc
        if not self.names:
            self.names = [str(i) for i in range(nc or 1)]
        if nc and len(self.names) != nc:
            raise PluginError(f"onnxYolo: {len(self.names)} class names for a model with {nc} classes")
        unknown = [label for label in self.config.labels or () if label not in self.names]
        if unknown:
            where = self.config.classNames or "its classes (no classNames file: they are numbered)"
            raise PluginError(
                f"onnxYolo: labels {unknown} are not in {where}; known: {', '.join(self.names[:12])}"
                + (" ..." if len(self.names) > 12 else "")
            )
        log.info(
            "onnxYolo %s: %s layout, input %d, output %s, %d classes",
            path.name,
            self.layout,
            self.size,
            list(dims),
            len(self.names),
        )

    def _classes(self, shape: tuple[int, ...]) -> int:
        if self.layout == "yolov5":
            return int(shape[2]) - 5
        if self.layout == "yolov8":
            return int(shape[1]) - 4
        return 0  # end-to-end: the class is an index

    def detect(self, image: np.ndarray) -> list[Detection]:
        if self.session is None:
            raise PluginError("onnxYolo: load() first")
        h, w = image.shape[:2]
        tensor, scale, (px, py) = letterbox(image, self.size)
        out = self.session.run(None, {self.input_name: tensor})[0][0]
        if self.layout == "yolov8":
            out = out.T  # [N, 4 + nc]
        if self.layout == "end2end":
            boxes, scores, classes = out[:, :4], out[:, 4], out[:, 5].astype(np.int64)
            keep = np.nonzero(scores >= self.config.confidence)[0]
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        else:
            # YOLOv5: class score = objectness x class probability; YOLOv8: class scores as they are
            class_scores = out[:, 5:] * out[:, 4:5] if self.layout == "yolov5" else out[:, 4:]
            classes = class_scores.argmax(axis=1)
            scores = class_scores[np.arange(len(out)), classes]
            keep = np.nonzero(scores >= self.config.confidence)[0]
            cx, cy, bw, bh = out[keep, 0], out[keep, 1], out[keep, 2], out[keep, 3]
            boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
            scores, classes = scores[keep], classes[keep]
            chosen = nms(boxes, scores, classes, self.config.iou)
            boxes, scores, classes = boxes[chosen], scores[chosen], classes[chosen]
        detections = []
        for box, score, cls in zip(boxes, scores, classes, strict=True):
            label = self.names[int(cls)] if 0 <= int(cls) < len(self.names) else str(int(cls))
            if self.config.labels is not None and label not in self.config.labels:
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            rel = (
                min(max((x1 - px) / scale / w, 0.0), 1.0),
                min(max((y1 - py) / scale / h, 0.0), 1.0),
                min(max((x2 - px) / scale / w, 0.0), 1.0),
                min(max((y2 - py) / scale / h, 0.0), 1.0),
            )
            detections.append(Detection(label, float(score), rel))
        return detections
