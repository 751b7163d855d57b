"""The verdict policy: thresholds, borderline band, minimum area, failures."""

from __future__ import annotations

import pytest

from hmi.core.part import DefectRegion, Inspection
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet, decide


def _ins(score: float, areas: tuple[int, ...] = (100,)) -> Inspection:
    regions = tuple(DefectRegion(0, 0, 10, 10, a, score) for a in areas)
    return Inspection(score=score, regions=regions, backend="cpu", model_name="m", model_sha256="0" * 64, infer_ms=1.0)


T = ThresholdSet(version=3, score=1.0, hold_below=0.1, hold_above=0.2, min_defect_area_px=50)


@pytest.mark.parametrize("score, expected", [
    (0.5, Verdict.OK), (0.899, Verdict.OK), (0.9, Verdict.HOLD), (1.0, Verdict.HOLD),
    (1.199, Verdict.HOLD), (1.2, Verdict.NG), (5.0, Verdict.NG),
])
def test_bands(score, expected):
    verdict, reason = decide(_ins(score), T)
    assert verdict is expected
    assert f"{score:.3f}" in reason


def test_small_region_is_held_not_rejected():
    verdict, reason = decide(_ins(2.0, areas=(10, 20)), T)
    assert verdict is Verdict.HOLD and "minimum 50 px" in reason


def test_no_inspection_is_not_inspected_and_rejects():
    verdict, reason = decide(None, T, failure="camera buffer failed")
    assert verdict is Verdict.NOT_INSPECTED and verdict.is_reject
    assert reason == "camera buffer failed"


def test_nan_score_is_never_ok():
    verdict, _ = decide(_ins(float("nan")), T)
    assert verdict is Verdict.NOT_INSPECTED


def test_threshold_set_refuses_negative_band():
    with pytest.raises(ValueError):
        ThresholdSet(1, 1.0, hold_below=-0.1)


def test_verdict_codes_match_plc_interface():
    assert [v.value for v in (Verdict.OK, Verdict.NG, Verdict.HOLD, Verdict.NOT_INSPECTED)] == [1, 2, 3, 4]
    assert Verdict.NOT_INSPECTED.label == "NOT INSPECTED"
