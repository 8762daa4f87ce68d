"""onnxYolo on real ONNX graphs: hand-weighted red-square finders (v8 and v5 layouts) and the shared
pretrained YOLOv3-tiny on real photographs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED, shared_file
from tests.support.onnx_models import odd_output_model, red_square_model
from vsnative.detectors.onnx_yolo import OnnxYolo, OnnxYoloConfig, detect_layout, nms
from vsnative.errors import PluginError


def picture(x: int, y: int, side: int = 80, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    w, h = size
    image = np.full((h, w, 3), 120, np.uint8)
    image[:, :, 1] = 140
    image[y : y + side, x : x + side] = (235, 25, 30)
    return image


@pytest.fixture
def names(tmp_path: Path) -> Path:
    path = tmp_path / "names.txt"
    path.write_text("red square\n")
    return path


@pytest.mark.parametrize("layout", ["yolov8", "yolov5"])
@pytest.mark.parametrize(("x", "y"), [(300, 100), (0, 0), (560, 280), (17, 203)])
def test_red_square_found_within_a_few_pixels(
    tmp_path: Path, names: Path, layout: str, x: int, y: int
) -> None:
    model = red_square_model(tmp_path / f"{layout}.onnx", layout)
    detector = OnnxYolo(OnnxYoloConfig(model=model, classNames=names))
    detector.load()
    assert detector.layout == layout  # recognised from the output shape alone
    (found,) = detector.detect(picture(x, y))
    assert found.label == "red square"
    assert found.confidence > 0.9
    box = np.array(found.box) * [640, 360, 640, 360]
    assert np.abs(box - [x, y, x + 80, y + 80]).max() <= 4
    assert detector.detect(np.full((360, 640, 3), 120, np.uint8)) == []


def test_allowed_labels_filter(tmp_path: Path, names: Path) -> None:
    model = red_square_model(tmp_path / "m.onnx")
    detector = OnnxYolo(OnnxYoloConfig(model=model, classNames=names, labels=["red square"]))
    detector.load()
    assert [d.label for d in detector.detect(picture(10, 10))] == ["red square"]


def test_a_label_the_model_does_not_know_is_a_clear_error(tmp_path: Path, names: Path) -> None:
    """Before, labels=["person"] on a model without persons loaded, and the detector never alerted."""
    model = red_square_model(tmp_path / "m.onnx")
    with pytest.raises(PluginError, match=r"labels \['person'\] are not in .*names.txt; known: red square"):
        OnnxYolo(OnnxYoloConfig(model=model, classNames=names, labels=["person"])).load()


def test_layouts_from_shapes() -> None:
    assert detect_layout((1, 1500, 85)) == "yolov5"
    assert detect_layout((1, 84, 8400)) == "yolov8"
    assert detect_layout((1, 300, 6)) == "end2end"
    assert detect_layout((1, 25200, 6)) == "yolov5"  # one-class v5: too many rows for an end-to-end head


def test_nms_is_class_aware() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms(boxes, scores, np.array([0, 0, 1]), 0.45) == [0, 2]


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"model file .* not found"):
        OnnxYolo(OnnxYoloConfig(model=tmp_path / "nope.onnx")).load()


def test_unknown_output_layout_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        PluginError, match=r"unknown YOLO output layout \[1, 2, 3, 4\].*layouts tried: yolov5"
    ):
        OnnxYolo(OnnxYoloConfig(model=odd_output_model(tmp_path / "odd.onnx"))).load()


def test_wrong_class_names_count_is_a_clear_error(tmp_path: Path) -> None:
    names = tmp_path / "two.txt"
    names.write_text("a\nb\n")
    with pytest.raises(PluginError, match="2 class names for a model with 1 classes"):
        OnnxYolo(OnnxYoloConfig(model=red_square_model(tmp_path / "m.onnx"), classNames=names)).load()


@pytest.mark.parametrize(("image", "label"), [("coffee", "cup"), ("camera", "person")])
def test_pretrained_yolov3_tiny_on_real_photographs(image: str, label: str) -> None:
    model = SHARED / "models" / "yolov3-tiny-coco-v5-320.onnx"
    shared_file(model)
    from skimage import data

    rgb = getattr(data, image)()
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=2)
    detector = OnnxYolo(OnnxYoloConfig(model=model, classNames=SHARED / "models" / "coco.names"))
    detector.load()
    assert detector.layout == "yolov5"
    found = detector.detect(rgb)
    assert found[0].label == label
    assert found[0].confidence > 0.8


@pytest.mark.parametrize(("image", "found_person"), [("camera", True), ("coffee", False)])
def test_pretrained_ssd_person_detector(image: str, found_person: bool) -> None:
    from vsnative.detectors.ssd import SsdConfig, SsdDetector

    model = SHARED / "models" / "pedestrian-ssdlite-mobilenetv2.onnx"
    shared_file(model)
    from skimage import data

    rgb = getattr(data, image)()
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=2)
    detector = SsdDetector(SsdConfig(model=model))
    detector.load()
    found = detector.detect(rgb)
    assert bool(found) == found_person
    if found_person:
        assert found[0].label == "person"
        assert found[0].confidence > 0.9
        x1, y1, x2, y2 = found[0].box
        assert 0 <= x1 < x2 <= 1
        assert 0 <= y1 < y2 <= 1
