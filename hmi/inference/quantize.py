"""The backbone quantised to INT8 at teach time, calibrated on the good parts being taught (`hmi teach --backbone int8`).

On a CPU the backbone's convolutions are most of a part's judging time, and at a camera's full resolution
nearly all of it: the first blocks run at a half and a quarter of the frame's pixels. With ONNX Runtime's
integer kernels (x86 with VNNI) the INT8 backbone ran four 464 px tiles in 17-18 ms against 37-40 ms.

Teach calls `quantize_backbone` once, before any feature is computed. ONNX Runtime's static quantisation
measures each tensor's range on `CALIBRATION_TILES` tiles of the taught good images, at the model's scale as
the line will see them. It writes the backbone in QDQ form: weights INT8 per output channel, activations UINT8
per tensor. The stem and the first block stay float (`FLOAT_NODES`). The memory bank is then built from the
quantised backbone's features, so the line compares like with like. QDQ is the form TensorRT reads as explicit
INT8; other runtimes run it as dequantise, float operator, quantise.

It is not the default. On the development sets it kept the mean image AUROC within 0.005 of the float
backbone's, but not every product's figures at the default thresholds (docs/performance.md). So teach keeps
it only where the product's held-out good parts show that it holds the accuracy (hmi.inference.teach_int8),
and otherwise teaches the float model and says why.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)

from hmi.core.errors import ModelError
from hmi.inference.geometry import Geometry, plan, prepare
from hmi.inference.scoring_graph import INPUT_SCALE, INPUT_SHIFT

CALIBRATION_TILES = 32       # tiles whose activation ranges set the INT8 scales
CALIBRATION_BATCH = 4        # tiles whose intermediate outputs the calibration holds at a time
# Kept in float: the stem and the first block. On the demo part's tiles, quantising them too doubled the
# features' error (relative RMS 0.17 against 0.07 at stride 4) and made the backbone no faster.
FLOAT_NODES = ("stem", "block0.")


def calibration_tiles(images: list[np.ndarray], geometry: Geometry,
                      count: int = CALIBRATION_TILES) -> list[np.ndarray]:
    """Up to `count` model-size tiles (RGB uint8) of `images` at the model's scale, spread over images and places."""
    if not images:
        return []
    picks = np.unique(np.linspace(0, len(images) - 1, min(count, len(images))).round().astype(int))
    per_image = -(-count // len(picks))
    tiles: list[np.ndarray] = []
    for k, i in enumerate(picks):
        tile_plan = plan(geometry, images[i].shape[:2])
        prepared = prepare(images[i], geometry, tile_plan)
        (th, tw), origins = tile_plan.tile, tile_plan.origins
        for j in range(min(per_image, len(origins))):
            y, x = origins[(k + j * len(origins) // per_image) % len(origins)]
            tiles.append(prepared[y:y + th, x:x + tw])
    return tiles[:count]


class _Tiles(CalibrationDataReader):
    """The calibration tiles as the backbone's normalised NCHW float input, read in ranges (strided calibration)."""

    def __init__(self, input_name: str, tiles: list[np.ndarray]) -> None:
        self._name, self._tiles = input_name, tiles
        self._next, self._end = 0, len(tiles)

    def __len__(self) -> int:
        return len(self._tiles)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Read tiles [start_index, end_index) next."""
        self._next, self._end = start_index, min(end_index, len(self._tiles))

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next tile's feed, or None after the last of the range."""
        if self._next >= self._end:
            return None
        tile = self._tiles[self._next]
        self._next += 1
        x = tile.transpose(2, 0, 1)[None].astype(np.float32)
        return {self._name: x * np.float32(INPUT_SCALE) + np.float32(INPUT_SHIFT)}  # as the scoring graph's input


def quantize_backbone(backbone: onnx.ModelProto, tiles: list[np.ndarray]) -> onnx.ModelProto:
    """The backbone in QDQ INT8, its ranges measured on `tiles` (RGB uint8, from calibration_tiles)."""
    if not tiles:
        raise ModelError("no image could be used to calibrate the INT8 backbone",
                         "teach again with readable good images, or teach with the float backbone")
    input_name = backbone.graph.input[0].name
    quantised = [n.name for n in backbone.graph.node if not n.name.startswith(FLOAT_NODES)]
    # Ranges are measured a few tiles at a time: every tensor of a tile is held until its range is taken.
    stride = min(CALIBRATION_BATCH, len(tiles))
    tiles = tiles[:len(tiles) - len(tiles) % stride]
    with tempfile.TemporaryDirectory(prefix="hmi-quantize-") as tmp:
        out = Path(tmp) / "backbone-int8.onnx"
        try:
            with _quiet_advice():
                # A copy: the quantiser moves the weights of the model it is given out to side files.
                quantize_static(copy.deepcopy(backbone), out, _Tiles(input_name, tiles),
                                quant_format=QuantFormat.QDQ, nodes_to_quantize=quantised, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                calibrate_method=CalibrationMethod.MinMax,
                                extra_options={"CalibStridedMinMax": stride,
                                               "WeightSymmetric": True, "ActivationSymmetric": False})
            model = onnx.load(str(out))
        except (RuntimeError, ValueError, OSError, onnx.checker.ValidationError) as exc:
            raise ModelError(f"the backbone could not be quantised to INT8 ({str(exc)[:160]})",
                             "teach with the float backbone (hmi teach --backbone float) and report this") from None
    return _standard_opsets_only(model)


class _DropAdvice(logging.Filter):
    """Drops the quantiser's advice to run its pre-processing (written to the root logger on every call)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the advice, True for everything else."""
        return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _quiet_advice() -> Iterator[None]:
    """Keep the quantiser's standing advice out of the station's log while it runs."""
    advice = _DropAdvice()
    root = logging.getLogger()
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)


def _standard_opsets_only(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop the operator-set imports the quantiser adds but no node uses (the scoring graph takes the standard set)."""
    used = {node.domain for node in model.graph.node}
    keep = [o for o in model.opset_import if o.domain in ("", "ai.onnx") or o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    return model
