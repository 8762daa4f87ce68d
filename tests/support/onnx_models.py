"""Hand-weighted ONNX detectors built with the `onnx` helper API: they genuinely find one saturated red
square in a picture and report it in a YOLO layout (v8 `[1, 5, N]` or v5 `[1, N, 6]`), or emit an
output no detector understands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array, name)


def red_square_model(path: Path, layout: str = "yolov8", size: int = 128, candidates: int = 1200) -> Path:
    """Input `images` [1,3,size,size] RGB 0..1. The red mask m = clip(40 * relu(r - (g+b)/2 - 0.35), 0, 1);
    its row/column profiles give the box: w = sum(max over rows), cx = sum(col * x) / w (same for y);
    score = min(1, mask area / 64). The one box is repeated `candidates` times (NMS keeps one)."""
    idx = (np.arange(size, dtype=np.float32) + 0.5).reshape(1, 1, 1, size)
    inits = [
        _const("rgb_w", np.array([1.0, -0.5, -0.5], np.float32).reshape(1, 3, 1, 1)),
        _const("bias", np.array([-0.35], np.float32)),
        _const("gain", np.array([40.0], np.float32)),
        _const("zero", np.array(0.0, np.float32)),
        _const("one", np.array(1.0, np.float32)),
        _const("xs", idx),
        _const("ys", idx.reshape(1, 1, size, 1)),
        _const("eps", np.array([1e-6], np.float32)),
        _const("area_norm", np.array([1.0 / 64.0], np.float32)),
        _const("ax_hw", np.array([2, 3], np.int64)),
        _const("ax_w", np.array([3], np.int64)),
        _const("ax_h", np.array([2], np.int64)),
        _const("shape_15", np.array([1, 5], np.int64)),
        _const(
            "reps",
            np.array([1, candidates], np.int64)
            if layout == "yolov8"
            else np.array([candidates, 1], np.int64),
        ),
        _const(
            "shape_out", np.array([1, 5, candidates] if layout == "yolov8" else [1, candidates, 6], np.int64)
        ),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "rgb_w", "bias"], ["redness"]),
        helper.make_node("Relu", ["redness"], ["red_pos"]),
        helper.make_node("Mul", ["red_pos", "gain"], ["red_big"]),
        helper.make_node("Clip", ["red_big", "zero", "one"], ["mask"]),  # [1,1,S,S]
        helper.make_node("ReduceMax", ["mask"], ["cols"], axes=[2], keepdims=1),  # [1,1,1,S]
        helper.make_node("ReduceMax", ["mask"], ["rows"], axes=[3], keepdims=1),  # [1,1,S,1]
        helper.make_node("ReduceSum", ["cols", "ax_w"], ["w"], keepdims=1),
        helper.make_node("ReduceSum", ["rows", "ax_h"], ["h"], keepdims=1),
        helper.make_node("Mul", ["cols", "xs"], ["cols_x"]),
        helper.make_node("Mul", ["rows", "ys"], ["rows_y"]),
        helper.make_node("ReduceSum", ["cols_x", "ax_w"], ["sum_x"], keepdims=1),
        helper.make_node("ReduceSum", ["rows_y", "ax_h"], ["sum_y"], keepdims=1),
        helper.make_node("Add", ["w", "eps"], ["w_safe"]),
        helper.make_node("Add", ["h", "eps"], ["h_safe"]),
        helper.make_node("Div", ["sum_x", "w_safe"], ["cx"]),
        helper.make_node("Div", ["sum_y", "h_safe"], ["cy"]),
        helper.make_node("ReduceSum", ["mask", "ax_hw"], ["area"], keepdims=1),
        helper.make_node("Mul", ["area", "area_norm"], ["area_n"]),
        helper.make_node("Clip", ["area_n", "zero", "one"], ["score"]),
    ]
    parts = ["cx", "cy", "w", "h", "score"] + (["one_score"] if layout == "yolov5" else [])
    if layout == "yolov5":  # objectness = score, class probability = 1
        nodes.append(helper.make_node("Div", ["score", "score_safe"], ["one_score"]))
        nodes.insert(-1, helper.make_node("Add", ["score", "eps"], ["score_safe"]))
    nodes += [
        helper.make_node("Concat", parts, ["row4"], axis=3),  # [1,1,1,5 or 6]
        helper.make_node("Reshape", ["row4", "shape_row"], ["row"]),
        helper.make_node("Tile", ["row", "reps"], ["tiled"]),
        helper.make_node("Reshape", ["tiled", "shape_out"], ["output0"]),
    ]
    if layout == "yolov8":  # [5,1] tiled along columns -> [5, N]
        inits.append(_const("shape_row", np.array([5, 1], np.int64)))
    else:  # [1,6] tiled along rows -> [N, 6]
        inits.append(_const("shape_row", np.array([1, 6], np.int64)))
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])]
    out_shape = [1, 5, candidates] if layout == "yolov8" else [1, candidates, 6]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)]
    graph = helper.make_graph(nodes, "red_square", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def odd_output_model(path: Path, size: int = 32) -> Path:
    """A model whose output `[1, 2, 3, 4]` no YOLO layout explains."""
    inits = [_const("shape", np.array([1, 2, 3, 4], np.int64)), _const("ax", np.array([1, 2, 3], np.int64))]
    nodes = [
        helper.make_node("ReduceSum", ["images", "ax"], ["s"], keepdims=0),
        helper.make_node("Expand", ["s", "shape"], ["output0"]),
    ]
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 2, 3, 4])]
    model = helper.make_model(
        helper.make_graph(nodes, "odd", inputs, outputs, inits),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = 8
    onnx.save(model, path)
    return path


def not_a_detector_model(path: Path, size: int = 32) -> Path:
    """An image model that is no detector: it takes 8-bit pictures (a YOLO warm-up feeds floats, so
    running it fails inside onnxruntime) and answers a class score."""
    nodes = [
        helper.make_node("Cast", ["images"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["f"], ["output0"], axes=[2, 3], keepdims=0),
    ]
    inputs = [helper.make_tensor_value_info("images", TensorProto.UINT8, [1, 3, size, size])]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3])]
    model = helper.make_model(
        helper.make_graph(nodes, "classifier", inputs, outputs),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = 8
    onnx.save(model, path)
    return path
