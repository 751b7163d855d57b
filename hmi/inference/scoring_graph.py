"""ONNX graphs for anomaly models taught on the station: patch features, and scoring against a memory bank.

Both graphs share one front end, so the features stored in the bank at teach time are exactly those the
scoring graph computes on the line:

    image uint8 [N, S, S, 3] RGB
      -> transpose to NCHW, cast, (x/255 - 0.5) / 0.5            (normalisation baked in)
      -> shipped EfficientNet-Lite0 backbone (models/backbone)     stride-8 and stride-16 maps
      -> 3x3 average pool on both, stride-16 map upsampled x2, channels concatenated
      -> patch features [N, h*w, C], h = w = S/8

The scoring graph adds the nearest-neighbour distance of every patch to the memory bank, written as one
MatMul (|a|^2 - 2ab + |b|^2 with the |b|^2 row folded into the bank), a light Gaussian blur of the map,
and the image score as the map's maximum. The score is the maximum of the very map the station shows,
so a score recomputed inside a region of interest is on the same scale.

Built with the onnx helper API only; no PyTorch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hmi.config.paths import shipped_models_dir
from hmi.core.errors import ModelError

OPSET = 17
BACKBONE_FILE = "efficientnet_lite0_s8s16.onnx"
BACKBONE_NAME = "efficientnet_lite0_s8s16"
BACKBONE_OUTPUTS = ("feat_s8", "feat_s16")
IMAGE_INPUT = "image"
FEATURES_OUTPUT = "features"
MAP_OUTPUT = "anomaly_map"
SCORE_OUTPUT = "score"
PATCH_STRIDE = 8
DEFAULT_BLUR_SIGMA = 0.5  # in map cells (one cell = 8 input pixels): a 3x3 kernel
_PREFIX = "backbone/"


def backbone_path() -> Path:
    """The shipped backbone ONNX file; ModelError if the installation lacks it."""
    path = shipped_models_dir() / "backbone" / BACKBONE_FILE
    if not path.is_file():
        raise ModelError(f"the pretrained backbone {path} is missing",
                         "reinstall the station software; teaching needs models/backbone")
    return path


def load_backbone(path: Path | None = None) -> onnx.ModelProto:
    """Read the backbone graph and check it has the input and the two feature outputs teaching needs."""
    path = path or backbone_path()
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for a damaged file
        raise ModelError(f"the backbone {path} cannot be read ({str(exc)[:120]})",
                         "reinstall the station software") from None
    outputs = [o.name for o in model.graph.output]
    if len(model.graph.input) != 1 or any(name not in outputs for name in BACKBONE_OUTPUTS):
        raise ModelError(f"the backbone {path.name} does not have one input and the outputs {BACKBONE_OUTPUTS}",
                         "reinstall the station software")
    return model


@dataclass(frozen=True)
class PatchGrid:
    """Geometry of the patch features for one input size."""

    input_size: int
    channels: int

    @property
    def side(self) -> int:
        """Patches per side of the anomaly map (input size / 8)."""
        return self.input_size // PATCH_STRIDE

    @property
    def patches(self) -> int:
        """Patches per image."""
        return self.side * self.side


def check_input_size(input_size: int) -> None:
    """The backbone needs a multiple of 16 pixels, and 64 or more to leave a useful map."""
    if input_size < 64 or input_size % 16:
        raise ModelError(f"model input size {input_size} is not supported",
                         "use a multiple of 16 from 64 upwards, for example 224 or 256")


class _Graph:
    """Collects nodes and initialisers while a graph is being written."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str, **attrs: object) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
        return output


def _channels(backbone: onnx.ModelProto) -> tuple[int, int]:
    dims = {}
    for out in backbone.graph.output:
        shape = out.type.tensor_type.shape.dim
        dims[out.name] = shape[1].dim_value if len(shape) > 1 else 0
    c8, c16 = dims[BACKBONE_OUTPUTS[0]], dims[BACKBONE_OUTPUTS[1]]
    if c8 <= 0 or c16 <= 0:
        raise ModelError("the backbone does not declare its feature channel counts", "reinstall the station software")
    return c8, c16


def _merge_backbone(g: _Graph, backbone: onnx.ModelProto, x: str) -> tuple[str, str]:
    """Copy the backbone's nodes and weights in under a prefix, fed by tensor `x`; returns its two outputs."""
    opsets = {o.domain: o.version for o in backbone.opset_import}
    if opsets.get("", OPSET) > OPSET or set(opsets) - {"", "ai.onnx"}:
        raise ModelError(f"the backbone uses operator sets {opsets}; the station writes models for opset {OPSET}",
                         "reinstall the station software")
    source = backbone.graph.input[0].name

    def rename(name: str) -> str:
        if not name:
            return name  # an omitted optional input stays omitted
        return x if name == source else _PREFIX + name

    for init in backbone.graph.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = rename(init.name)
        g.inits.append(copy)
    for node in backbone.graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = _PREFIX + (node.name or node.output[0])
        del copy.input[:]
        copy.input.extend(rename(n) for n in node.input)
        del copy.output[:]
        copy.output.extend(rename(n) for n in node.output)
        g.nodes.append(copy)
    return rename(BACKBONE_OUTPUTS[0]), rename(BACKBONE_OUTPUTS[1])


def _front(g: _Graph, backbone: onnx.ModelProto, input_size: int) -> tuple[str, PatchGrid]:
    """Image in, patch features [N, h*w, C] out (see the module docstring)."""
    c8, c16 = _channels(backbone)
    x = g.op("Transpose", [IMAGE_INPUT], "pre/nchw", perm=[0, 3, 1, 2])
    x = g.op("Cast", [x], "pre/float", to=TensorProto.FLOAT)
    x = g.op("Mul", [x, g.const("pre/scale", np.array(1.0 / 127.5, np.float32))], "pre/scaled")
    x = g.op("Add", [x, g.const("pre/shift", np.array(-1.0, np.float32))], "pre/normalised")
    f8, f16 = _merge_backbone(g, backbone, x)
    pool = {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "count_include_pad": 0}
    p8 = g.op("AveragePool", [f8], "patch/pool8", **pool)
    p16 = g.op("AveragePool", [f16], "patch/pool16", **pool)
    up = g.op("Resize", [p16, "", g.const("patch/scales", np.array([1, 1, 2, 2], np.float32))], "patch/up16",
              mode="linear", coordinate_transformation_mode="half_pixel")
    cat = g.op("Concat", [p8, up], "patch/concat", axis=1)
    grid = PatchGrid(input_size, c8 + c16)
    flat = g.op("Reshape", [cat, g.const("patch/flat_shape", np.array([0, grid.channels, -1], np.int64))],
                "patch/flat")
    return g.op("Transpose", [flat], "patch/features", perm=[0, 2, 1]), grid


def _model(g: _Graph, input_size: int, outputs: list[onnx.ValueInfoProto], doc: str) -> onnx.ModelProto:
    image = helper.make_tensor_value_info(IMAGE_INPUT, TensorProto.UINT8, ["batch", input_size, input_size, 3])
    graph = helper.make_graph(g.nodes, "anomaly_patchcore", [image], outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="hmi teach", doc_string=doc)
    model.ir_version = 8  # opset 17's IR version, readable by ONNX Runtime 1.14 and later
    onnx.checker.check_model(model)
    return model


def feature_graph(backbone: onnx.ModelProto, input_size: int) -> tuple[onnx.ModelProto, PatchGrid]:
    """Graph from `image` to patch `features` float32 [N, h*w, C]; what the memory bank is built from."""
    check_input_size(input_size)
    g = _Graph()
    feats, grid = _front(g, backbone, input_size)
    g.op("Identity", [feats], FEATURES_OUTPUT)
    out = helper.make_tensor_value_info(FEATURES_OUTPUT, TensorProto.FLOAT, ["batch", grid.patches, grid.channels])
    return _model(g, input_size, [out], "patch features for teaching"), grid


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 2-D Gaussian, radius ceil(2 sigma), as float32 [k, k]."""
    radius = max(1, math.ceil(2 * sigma))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k1 = np.exp(-0.5 * (t / sigma) ** 2)
    k1 /= k1.sum()
    return np.outer(k1, k1).astype(np.float32)


def scoring_graph(backbone: onnx.ModelProto, input_size: int, bank: np.ndarray,
                  blur_sigma: float = DEFAULT_BLUR_SIGMA, ignore_border: int = 0) -> onnx.ModelProto:
    """The complete anomaly model: `image` -> `anomaly_map` float32 [N, h, w] and `score` float32 [N].

    The map holds each patch's Euclidean distance to its nearest memory-bank feature (optionally blurred);
    the score is the map's maximum. `ignore_border` patches along each edge are set to 0 (not judged):
    where texture runs to the frame's edge, the backbone's zero padding makes edge patches unlike any
    taught patch, and their distance would drown real defects.
    """
    check_input_size(input_size)
    bank = np.asarray(bank, np.float32)
    g = _Graph()
    feats, grid = _front(g, backbone, input_size)
    if bank.ndim != 2 or bank.shape[1] != grid.channels or bank.shape[0] < 1:
        raise ModelError(f"memory bank has shape {bank.shape}, expected (n, {grid.channels})",
                         "teach the model again")
    # min_j |a - b_j|^2 = |a|^2 + min_j (|b_j|^2 - 2 a.b_j); the bracket is one MatMul of [a, 1] with
    # [-2 b_j ; |b_j|^2], so no [patches x bank] sized addition is needed.
    bank_aug = np.concatenate([-2.0 * bank.T, (bank.astype(np.float64) ** 2).sum(1)[None].astype(np.float32)], 0)
    with_one = g.op("Pad", [feats, g.const("nn/pad", np.array([0, 0, 0, 0, 0, 1], np.int64)),
                            g.const("nn/one", np.array(1.0, np.float32))], "nn/with_one", mode="constant")
    cross = g.op("MatMul", [with_one, g.const("nn/bank", np.ascontiguousarray(bank_aug))], "nn/cross")
    nearest = g.op("ReduceMin", [cross], "nn/nearest", axes=[2], keepdims=0)
    # Not Mul + MatMul(ones): ONNX Runtime 1.31's optimiser fuses that with the Transpose wrongly.
    norm = g.op("ReduceSumSquare", [feats], "nn/norm", axes=[2], keepdims=0)
    sq = g.op("Add", [nearest, norm], "nn/squared")
    sq = g.op("Relu", [sq], "nn/clamped")  # rounding can dip a hair below zero
    dist = g.op("Sqrt", [sq], "nn/distance")
    side = grid.side
    amap = g.op("Reshape", [dist, g.const("map/shape", np.array([-1, 1, side, side], np.int64))], "map/raw")
    if blur_sigma > 0:
        kernel = gaussian_kernel(blur_sigma)
        r = kernel.shape[0] // 2
        padded = g.op("Pad", [amap, g.const("map/pads", np.array([0, 0, r, r, 0, 0, r, r], np.int64))],
                      "map/padded", mode="edge")
        amap = g.op("Conv", [padded, g.const("map/kernel", kernel[None, None])], "map/blurred",
                    kernel_shape=list(kernel.shape))
    if ignore_border > 0:
        if 2 * ignore_border >= side:
            raise ModelError(f"an ignored border of {ignore_border} patches leaves nothing of a {side}x{side} map",
                             "use a smaller border or a larger input size")
        keep = np.zeros((1, 1, side, side), np.float32)
        keep[..., ignore_border:side - ignore_border, ignore_border:side - ignore_border] = 1.0
        amap = g.op("Mul", [amap, g.const("map/border", keep)], "map/inside")
    g.op("Reshape", [amap, g.const("map/out_shape", np.array([-1, side, side], np.int64))], MAP_OUTPUT)
    g.op("ReduceMax", [MAP_OUTPUT], SCORE_OUTPUT, axes=[1, 2], keepdims=0)
    outputs = [helper.make_tensor_value_info(MAP_OUTPUT, TensorProto.FLOAT, ["batch", side, side]),
               helper.make_tensor_value_info(SCORE_OUTPUT, TensorProto.FLOAT, ["batch"])]
    return _model(g, input_size, outputs, f"anomaly model: {BACKBONE_NAME} patches, memory bank of {bank.shape[0]}")
