"""The stride-16 map beside the fine one: weighted from held-out parts, added in the graph as teach checked it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from hmi.demo.product import render_part
from hmi.inference import scoring_graph as sg
from hmi.inference.inspector import Inspector
from hmi.inference.package import ModelPackage
from hmi.inference.teach import COARSE_WEIGHT, coarse_factor

REPO = Path(__file__).resolve().parents[3]


def test_coarse_factor_gives_the_coarse_map_its_weight_of_the_fine_one() -> None:
    fine = np.array([10.0, 12.0, 11.0, 40.0])      # one odd part does not move the medians
    coarse = np.array([2.0, 3.0, 2.5, 0.1])
    factor = coarse_factor(fine, coarse)
    assert factor == pytest.approx(COARSE_WEIGHT * np.median(fine) / np.median(coarse))
    assert coarse_factor(fine, coarse, weight=0.5) == pytest.approx(2 * factor)


def test_coarse_factor_is_zero_when_the_coarse_map_is_flat_on_good_parts() -> None:
    assert coarse_factor(np.array([10.0, 11.0]), np.zeros(2)) == 0.0


def test_the_model_adds_the_coarse_map_exactly_as_teach_checked_it() -> None:
    backbone = sg.load_backbone()
    rng = np.random.default_rng(3)
    bank = rng.uniform(0, 2, (50, sg.fine_channels(backbone))).astype(np.float32)
    bank16 = rng.uniform(0, 2, (30, 112)).astype(np.float32)
    coarse = sg.CoarseBank(bank16, sg.density_weights(bank16), 0.7)
    parts = sg.tiled_scoring_graph(backbone, bank, sg.density_weights(bank), coarse=coarse, parts=True)
    model = sg.tiled_scoring_graph(backbone, bank, sg.density_weights(bank), coarse=coarse)
    image = rng.integers(0, 255, (2, 96, 160, 3), dtype=np.uint8)
    (both,) = ort.InferenceSession(parts.SerializeToString()).run([sg.PARTS_OUTPUT], {sg.IMAGE_INPUT: image})
    amap, score = ort.InferenceSession(model.SerializeToString()).run([sg.MAP_OUTPUT, sg.SCORE_OUTPUT],
                                                                      {sg.IMAGE_INPUT: image})
    assert both.shape == (2, 12, 20, 2) and amap.shape == (2, 12, 20)
    assert np.all(both[..., 1] > 0)
    np.testing.assert_allclose(amap, both[..., 0] + 0.7 * both[..., 1], rtol=1e-5)
    np.testing.assert_allclose(score, amap.reshape(2, -1).max(1), rtol=1e-6)


def test_the_demo_model_ranks_every_missing_material_part_above_every_good_part() -> None:
    # The fine map alone left a third of these among the good parts (docs/models.md).
    inspector = Inspector(ModelPackage.load(REPO / "models" / "demo-part"), provider="cpu", threads=1)
    good = [inspector.inspect(render_part(1000 + s).image).score for s in range(30)]
    missing = [inspector.inspect(render_part(2000 + s, "missing_material").image).score for s in range(20)]
    assert min(missing) > max(good)
