"""A tiny but real anomaly model package (ONNX built here) for fast pipeline tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from hmi.inference.package import InputSpec, Manifest, ThresholdDefaults, file_sha256, write_manifest


def build_tiny_model(folder: Path, size: int = 64, name: str = "tiny", threshold: float = 0.3) -> Path:
    """Write a package whose anomaly map is |grey - 128| / 128 averaged over 8x8 cells; score = max."""
    folder.mkdir(parents=True, exist_ok=True)
    inp = helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", size, size, 3])
    amap = helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, ["N", size // 8, size // 8])
    score = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])
    inits = [
        helper.make_tensor("c128", TensorProto.FLOAT, [], [128.0]),
        helper.make_tensor("axes_c", TensorProto.INT64, [1], [3]),
        helper.make_tensor("axes_hw", TensorProto.INT64, [2], [1, 2]),
    ]
    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["f", "axes_c"], ["g"], keepdims=1),            # N,H,W,1
        helper.make_node("Sub", ["g", "c128"], ["d"]),
        helper.make_node("Abs", ["d"], ["a"]),
        helper.make_node("Div", ["a", "c128"], ["n"]),
        helper.make_node("Transpose", ["n"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("AveragePool", ["nchw"], ["p"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Squeeze", ["p", "one"], ["anomaly_map"]),
        helper.make_node("ReduceMax", ["anomaly_map", "axes_hw"], ["score"], keepdims=0),
    ]
    inits.append(helper.make_tensor("one", TensorProto.INT64, [1], [1]))
    graph = helper.make_graph(nodes, "tiny", [inp], [score, amap], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10  # what ONNX Runtime of the station reads
    onnx.checker.check_model(model)
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    manifest = Manifest(name=name, kind="anomaly", sha256=file_sha256(path),
                        input=InputSpec(width=size, height=size, channels=3, layout="NHWC", dtype="uint8", color="RGB"),
                        outputs={"score": "score", "anomaly_map": "anomaly_map"}, region_threshold=threshold,
                        thresholds=ThresholdDefaults(score=threshold, hold_below=0.05, hold_above=0.05))
    write_manifest(folder, manifest)
    return folder


def plain_frame(size: int = 96, value: int = 128) -> np.ndarray:
    """A flat grey frame: scores 0 on the tiny model."""
    return np.full((size, size), value, np.uint8)


def frame_with_spot(size: int = 96, value: int = 255, box: tuple[int, int, int, int] = (40, 40, 24, 24)) -> np.ndarray:
    """A grey frame with one bright square: a clear anomaly for the tiny model."""
    img = plain_frame(size)
    x, y, w, h = box
    img[y:y + h, x:x + w] = value
    return img
