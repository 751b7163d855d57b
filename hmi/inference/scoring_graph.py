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
so a score recomputed inside a region of interest is on the same scale. (This describes the fixed-size graphs
of earlier models; the tiled models taught now, tiled_scoring_graph, use stride-4 + 8 patches and a stride-16
map of their own.)

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
BACKBONE_OUTPUTS = ("feat_s8", "feat_s16")   # what the fixed-size graphs of earlier models used
FINE_OUTPUTS = ("feat_s4", "feat_s8")         # what the tiled models use for fine detail
COARSE_OUTPUT = "feat_s16"                    # and for the wider view
PARTS_OUTPUT = "map_parts"                    # teach's check graphs: fine and coarse maps apart
IMAGE_INPUT = "image"
INPUT_SCALE, INPUT_SHIFT = 1.0 / 127.5, -1.0  # uint8 pixel -> the backbone's input: x * scale + shift, in [-1, 1]
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
    if len(model.graph.input) != 1 or any(name not in outputs for name in FINE_OUTPUTS):
        raise ModelError(f"the backbone {path.name} does not have one input and the outputs {FINE_OUTPUTS}",
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


def _channels(backbone: onnx.ModelProto, names: tuple[str, ...] = BACKBONE_OUTPUTS) -> tuple[int, ...]:
    dims = {}
    for out in backbone.graph.output:
        shape = out.type.tensor_type.shape.dim
        dims[out.name] = shape[1].dim_value if len(shape) > 1 else 0
    channels = tuple(dims.get(name, 0) for name in names)
    if any(c <= 0 for c in channels):
        raise ModelError(f"the backbone does not declare the outputs {names} with their channel counts",
                         "reinstall the station software")
    return channels


def needed_nodes(model: onnx.ModelProto, outputs: tuple[str, ...]) -> list[onnx.NodeProto]:
    """The graph's nodes that the given outputs depend on, in graph order."""
    producer = {o: node for node in model.graph.node for o in node.output}
    wanted: set[int] = set()
    stack = [producer[o] for o in outputs if o in producer]
    while stack:
        node = stack.pop()
        if id(node) in wanted:
            continue
        wanted.add(id(node))
        stack.extend(producer[i] for i in node.input if i in producer)
    return [node for node in model.graph.node if id(node) in wanted]


def _merge_backbone(g: _Graph, backbone: onnx.ModelProto, x: str,
                    outputs: tuple[str, ...] = BACKBONE_OUTPUTS) -> tuple[str, ...]:
    """Copy the backbone's nodes (those `outputs` need) and weights in under a prefix, fed by tensor `x`;
    returns the renamed `outputs`."""
    opsets = {o.domain: o.version for o in backbone.opset_import}
    if opsets.get("", OPSET) > OPSET or set(opsets) - {"", "ai.onnx"}:
        raise ModelError(f"the backbone uses operator sets {opsets}; the station writes models for opset {OPSET}",
                         "reinstall the station software")
    source = backbone.graph.input[0].name

    def rename(name: str) -> str:
        if not name:
            return name  # an omitted optional input stays omitted
        return x if name == source else _PREFIX + name

    nodes = needed_nodes(backbone, outputs)
    used = {i for node in nodes for i in node.input}
    for init in backbone.graph.initializer:
        if init.name not in used:
            continue
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = rename(init.name)
        g.inits.append(copy)
    for node in nodes:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = _PREFIX + (node.name or node.output[0])
        del copy.input[:]
        copy.input.extend(rename(n) for n in node.input)
        del copy.output[:]
        copy.output.extend(rename(n) for n in node.output)
        g.nodes.append(copy)
    return tuple(rename(o) for o in outputs)


def _normalised_input(g: _Graph) -> str:
    """uint8 NHWC image -> float NCHW normalised as (x/255 - 0.5) / 0.5, as the backbone's weights expect."""
    x = g.op("Transpose", [IMAGE_INPUT], "pre/nchw", perm=[0, 3, 1, 2])
    x = g.op("Cast", [x], "pre/float", to=TensorProto.FLOAT)
    x = g.op("Mul", [x, g.const("pre/scale", np.array(INPUT_SCALE, np.float32))], "pre/scaled")
    return g.op("Add", [x, g.const("pre/shift", np.array(INPUT_SHIFT, np.float32))], "pre/normalised")


_POOL3 = {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "count_include_pad": 0}


def _tiled_patch_maps(g: _Graph, backbone: onnx.ModelProto) -> tuple[str, int, str, int]:
    """Image in: the fine patch feature map [N, C, h, w] (h, w = input / 8) and its C, and the coarse map
    [N, C16, h/2, w/2] and its C16.

    Fine: the stride-4 and stride-8 stages, each averaged over a 3x3 neighbourhood, the stride-4 map then
    averaged over 2x2 cells onto the stride-8 grid. Coarse: the stride-16 stage averaged over 3x3 cells.
    Measured on the development sets (docs/models.md): the early stages see the few-pixel defects of real
    parts (pores, pin holes, thin scratches) that the stride-16 stage blurs away; the stride-16 stage sees
    what only a wider view shows (material missing from a part), so it is judged on its own grid against a
    bank of its own and added to the fine map at a small weight (tiled_scoring_graph).
    """
    names = FINE_OUTPUTS + (COARSE_OUTPUT,)
    channels = _channels(backbone, names)
    maps = _merge_backbone(g, backbone, _normalised_input(g), names)
    p4 = g.op("AveragePool", [maps[0]], "patch/pool4", **_POOL3)
    p4 = g.op("AveragePool", [p4], "patch/down4", kernel_shape=[2, 2], strides=[2, 2])
    p8 = g.op("AveragePool", [maps[1]], "patch/pool8", **_POOL3)
    fine = g.op("Concat", [p4, p8], "patch/concat", axis=1)
    return fine, channels[0] + channels[1], g.op("AveragePool", [maps[2]], "patch/pool16", **_POOL3), channels[2]


def _patch_maps(g: _Graph, backbone: onnx.ModelProto) -> tuple[str, int]:
    """Image in, patch feature maps [N, C, h, w] out (h, w = input / 8), and C."""
    c8, c16 = _channels(backbone)
    f8, f16 = _merge_backbone(g, backbone, _normalised_input(g))
    pool = {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "count_include_pad": 0}
    p8 = g.op("AveragePool", [f8], "patch/pool8", **pool)
    p16 = g.op("AveragePool", [f16], "patch/pool16", **pool)
    up = g.op("Resize", [p16, "", g.const("patch/scales", np.array([1, 1, 2, 2], np.float32))], "patch/up16",
              mode="linear", coordinate_transformation_mode="half_pixel")
    return g.op("Concat", [p8, up], "patch/concat", axis=1), c8 + c16


def _front(g: _Graph, backbone: onnx.ModelProto, input_size: int) -> tuple[str, PatchGrid]:
    """Image in, patch features [N, h*w, C] out (see the module docstring)."""
    cat, channels = _patch_maps(g, backbone)
    grid = PatchGrid(input_size, channels)
    flat = g.op("Reshape", [cat, g.const("patch/flat_shape", np.array([0, grid.channels, -1], np.int64))],
                "patch/flat")
    return g.op("Transpose", [flat], "patch/features", perm=[0, 2, 1]), grid


def _model(g: _Graph, input_size: int | None, outputs: list[onnx.ValueInfoProto], doc: str) -> onnx.ModelProto:
    dims: list[int | str] = ["height", "width"] if input_size is None else [input_size, input_size]
    image = helper.make_tensor_value_info(IMAGE_INPUT, TensorProto.UINT8, ["batch", *dims, 3])
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


def _blur(g: _Graph, amap: str, sigma: float, prefix: str = "map") -> str:
    """Gaussian blur of a [N, 1, h, w] map by `sigma` cells, edges extended (the map keeps its size)."""
    kernel = gaussian_kernel(sigma)
    r = kernel.shape[0] // 2
    padded = g.op("Pad", [amap, g.const(f"{prefix}/pads", np.array([0, 0, r, r, 0, 0, r, r], np.int64))],
                  f"{prefix}/padded", mode="edge")
    return g.op("Conv", [padded, g.const(f"{prefix}/kernel", kernel[None, None])], f"{prefix}/blurred",
                kernel_shape=list(kernel.shape))


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
        amap = _blur(g, amap, blur_sigma)
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


# Image score of the tiled models: the peak of the anomaly map after a Gaussian blur of one cell (8 pixels
# at model scale). Measured on the development sets against no blur, half a cell and two cells, and against
# the mean of the 3 or 10 highest cells (docs/accuracy.md): one cell ranked best or equal on every set.
TILED_BLUR_SIGMA = 1.0
# Neighbours in the memory bank whose mean distance measures how densely the bank covers each bank feature.
DENSITY_NEIGHBOURS = 3


def fine_channels(backbone: onnx.ModelProto) -> int:
    """Channels of the fine patch features; in a feature map with the coarse ones, those follow them."""
    return sum(_channels(backbone, FINE_OUTPUTS))


def feature_map_graph(backbone: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Graph from `image` uint8 [N, H, W, 3] (any H, W multiple of 16) to `features` float32 [N, H/8, W/8, C].

    The stride-16 features follow the fine ones (fine_channels), each repeated over its 2x2 stride-8 cells,
    so the stitched map sampled at every second cell gives them exactly.
    """
    g = _Graph()
    fine, channels, c16, channels16 = _tiled_patch_maps(g, backbone)
    up = g.op("Resize", [c16, "", g.const("patch/repeat16", np.array([1, 1, 2, 2], np.float32))],
              "patch/repeated16", mode="nearest")
    cat = g.op("Concat", [fine, up], "patch/with_coarse", axis=1)
    channels += channels16
    g.op("Transpose", [cat], FEATURES_OUTPUT, perm=[0, 2, 3, 1])
    out = helper.make_tensor_value_info(FEATURES_OUTPUT, TensorProto.FLOAT, ["batch", "height_8", "width_8", channels])
    return _model(g, None, [out], "patch feature maps for teaching"), channels


def density_weights(bank: np.ndarray, neighbours: int = DENSITY_NEIGHBOURS) -> np.ndarray:
    """Per bank feature: the bank's median neighbour spacing over this feature's own (float32 [M]).

    A part's patch distance is multiplied by the weight of its nearest bank feature, so a patch is judged
    against how tightly good parts cluster at that point of feature space: a small distance to a feature
    from a tight cluster counts for more than the same distance to a loose, variable one (as a local outlier
    factor does). Spacings are floored at a tenth of the median so near-duplicate features cannot explode.
    """
    bank = np.asarray(bank, np.float32)
    m = len(bank)
    if m < 2:
        return np.ones(m, np.float32)
    k = min(neighbours, m - 1)
    sq = np.einsum("ij,ij->i", bank, bank)
    spacing = np.empty(m, np.float64)
    for s in range(0, m, 2048):
        d = sq[s:s + 2048, None] - 2.0 * (bank[s:s + 2048] @ bank.T) + sq[None]
        d[np.arange(len(d)), np.arange(s, s + len(d))] = np.inf  # not its own neighbour
        near = np.partition(d, k - 1, axis=1)[:, :k]
        spacing[s:s + len(d)] = np.sqrt(np.maximum(near, 0.0)).mean(1)
    median = float(np.median(spacing))
    if median <= 0.0:
        return np.ones(m, np.float32)
    return (median / np.maximum(spacing, 0.1 * median)).astype(np.float32)


@dataclass(frozen=True)
class CoarseBank:
    """The stride-16 memory bank, its density weights, and the factor its map is added to the fine map with."""

    bank: np.ndarray
    weights: np.ndarray
    factor: float


def _checked_bank(bank: np.ndarray, weights: np.ndarray | None, channels: int) -> tuple[np.ndarray, np.ndarray]:
    bank = np.asarray(bank, np.float32)
    if bank.ndim != 2 or bank.shape[1] != channels or bank.shape[0] < 1:
        raise ModelError(f"memory bank has shape {bank.shape}, expected (n, {channels})", "teach the model again")
    weights = np.ones(len(bank), np.float32) if weights is None else np.asarray(weights, np.float32)
    if weights.shape != (len(bank),) or not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise ModelError("the memory bank's density weights are invalid", "teach the model again")
    return bank, weights


def _nearest_bank_map(g: _Graph, fmap: str, channels: int, bank: np.ndarray, weights: np.ndarray,
                      prefix: str) -> str:
    """Feature map [N, C, h, w] -> map [N, 1, h, w] of each patch's density-weighted distance to the bank."""
    flat = g.op("Reshape", [fmap, g.const(f"{prefix}/flat_shape", np.array([0, channels, -1], np.int64))],
                f"{prefix}/flat")
    feats = g.op("Transpose", [flat], f"{prefix}/features", perm=[0, 2, 1])
    bank_aug = np.concatenate([-2.0 * bank.T, (bank.astype(np.float64) ** 2).sum(1)[None].astype(np.float32)], 0)
    with_one = g.op("Pad", [feats, g.const(f"{prefix}/pad", np.array([0, 0, 0, 0, 0, 1], np.int64)),
                            g.const(f"{prefix}/one", np.array(1.0, np.float32))], f"{prefix}/with_one", mode="constant")
    cross = g.op("MatMul", [with_one, g.const(f"{prefix}/bank", np.ascontiguousarray(bank_aug))], f"{prefix}/cross")
    # ArgMin and one gathered value, not TopK(k=1): the same nearest feature, measured 3-4 ms less a 384 px
    # tile on 2 cores (TopK walks the [patches x bank] matrix through a heap; docs/performance.md).
    index3 = g.op("ArgMin", [cross], f"{prefix}/index3", axis=2, keepdims=1)
    nearest3 = g.op("GatherElements", [cross, index3], f"{prefix}/nearest3", axis=2)
    axis2 = g.const(f"{prefix}/axis2", np.array([2], np.int64))
    nearest = g.op("Squeeze", [nearest3, axis2], f"{prefix}/nearest")
    index = g.op("Squeeze", [index3, axis2], f"{prefix}/index")
    norm = g.op("ReduceSumSquare", [feats], f"{prefix}/norm", axes=[2], keepdims=0)
    sq = g.op("Relu", [g.op("Add", [nearest, norm], f"{prefix}/squared")], f"{prefix}/clamped")
    dist = g.op("Sqrt", [sq], f"{prefix}/distance")
    weight = g.op("Gather", [g.const(f"{prefix}/weights", weights), index], f"{prefix}/weight", axis=0)
    dist = g.op("Mul", [dist, weight], f"{prefix}/weighted")
    shape = g.op("Shape", [fmap], f"{prefix}/feature_shape")
    hw = g.op("Slice", [shape, g.const(f"{prefix}/from", np.array([2], np.int64)),
                        g.const(f"{prefix}/to", np.array([4], np.int64))], f"{prefix}/hw")
    map_shape = g.op("Concat", [g.const(f"{prefix}/lead", np.array([-1, 1], np.int64)), hw], f"{prefix}/shape", axis=0)
    return g.op("Reshape", [dist, map_shape], f"{prefix}/raw")


def tiled_scoring_graph(backbone: onnx.ModelProto, bank: np.ndarray, weights: np.ndarray | None,
                        coarse: CoarseBank, blur_sigma: float = TILED_BLUR_SIGMA,
                        parts: bool = False) -> onnx.ModelProto:
    """The anomaly model for any tile size: `image` [N, H, W, 3] -> `anomaly_map` [N, H/8, W/8] and `score` [N].

    Each fine patch's Euclidean distance to its nearest memory-bank feature, times that feature's density
    weight (see density_weights), blurred by `blur_sigma` cells; the stride-16 patches judged the same way on
    their own grid against the `coarse` bank, blurred there, brought onto the stride-8 grid and added with
    `coarse.factor`. The score is the map's maximum. `parts` (for teach's check) outputs instead
    `map_parts` [N, H/8, W/8, 2]: the fine map and the unweighted coarse map, for the factor to be set from.
    """
    g = _Graph()
    fine, channels, c16, channels16 = _tiled_patch_maps(g, backbone)
    bank, weights = _checked_bank(bank, weights, channels)
    bank16, weights16 = _checked_bank(coarse.bank, coarse.weights, channels16)
    if not (math.isfinite(coarse.factor) and coarse.factor >= 0):
        raise ModelError(f"the coarse map's factor {coarse.factor} is invalid", "teach the model again")
    amap = _nearest_bank_map(g, fine, channels, bank, weights, "nn")
    cmap = _nearest_bank_map(g, c16, channels16, bank16, weights16, "nn16")
    if blur_sigma > 0:
        amap = _blur(g, amap, blur_sigma)
        cmap = _blur(g, cmap, blur_sigma, "map16")
    cmap = g.op("Resize", [cmap, "", "", g.op("Shape", [amap], "map16/target")], "map16/up", mode="linear",
                coordinate_transformation_mode="half_pixel")
    if parts:
        both = g.op("Concat", [amap, cmap], "map/parts_nchw", axis=1)
        g.op("Transpose", [both], PARTS_OUTPUT, perm=[0, 2, 3, 1])
        out = helper.make_tensor_value_info(PARTS_OUTPUT, TensorProto.FLOAT, ["batch", "height_8", "width_8", 2])
        return _model(g, None, [out], "fine and coarse anomaly maps for teach's check")
    weighted = g.op("Mul", [cmap, g.const("map16/factor", np.array(coarse.factor, np.float32))], "map16/weighted")
    amap = g.op("Add", [amap, weighted], "map/combined")
    g.op("Squeeze", [amap, g.const("map/channel", np.array([1], np.int64))], MAP_OUTPUT)
    g.op("ReduceMax", [MAP_OUTPUT], SCORE_OUTPUT, axes=[1, 2], keepdims=0)
    outputs = [helper.make_tensor_value_info(MAP_OUTPUT, TensorProto.FLOAT, ["batch", "height_8", "width_8"]),
               helper.make_tensor_value_info(SCORE_OUTPUT, TensorProto.FLOAT, ["batch"])]
    return _model(g, None, outputs, f"anomaly model: {BACKBONE_NAME} patches, memory bank of {len(bank)}, "
                                    f"stride-16 bank of {len(bank16)}, density-weighted distances, any tile size")
