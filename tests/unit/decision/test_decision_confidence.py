"""The defect confidence beside the score: a logistic, 50 % at the NG limit, 5 % at the foot of the HOLD band."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hmi.decision.policy import ThresholdSet, confidence_text, defect_confidence

BAND = ThresholdSet(version=3, score=1.0, hold_below=0.1, hold_above=0.2)
NO_BAND = ThresholdSet(version=1, score=0.4)


def test_half_at_the_ng_limit():
    assert defect_confidence(0.4, NO_BAND) == 0.5
    assert BAND.ng_from == pytest.approx(1.2)
    assert defect_confidence(BAND.ng_from, BAND) == 0.5       # with hold_above, at ng_from, not at `score`
    assert defect_confidence(BAND.score, BAND) < 0.5


def test_five_per_cent_at_the_foot_of_the_hold_band():
    assert defect_confidence(BAND.hold_low, BAND) == pytest.approx(0.05, abs=1e-12)
    upper_only = ThresholdSet(version=2, score=0.5, hold_above=0.1)  # the band is [0.5, 0.6)
    assert defect_confidence(0.5, upper_only) == pytest.approx(0.05, abs=1e-12)


def test_without_a_band_five_per_cent_lies_five_per_cent_of_the_limit_under_it():
    assert defect_confidence(0.4 * 0.95, NO_BAND) == pytest.approx(0.05, abs=1e-12)
    assert defect_confidence(0.4 * 1.05, NO_BAND) == pytest.approx(0.95, abs=1e-12)
    zero = ThresholdSet(version=1, score=0.0)                     # no scale at all: a step of 1e-6
    assert defect_confidence(0.0, zero) == 0.5
    assert defect_confidence(-1e-6, zero) == pytest.approx(0.05, abs=1e-9)
    assert defect_confidence(1e-3, zero) == 1.0


@pytest.mark.parametrize("thresholds", [BAND, NO_BAND, ThresholdSet(version=4, score=25.0, hold_below=5.0)])
def test_rises_with_the_score_and_stays_within_0_and_1(thresholds):
    scores = np.concatenate([np.linspace(-1e6, 1e6, 2001), np.linspace(-50.0, 50.0, 200_001)])
    scores.sort()
    p = np.array([defect_confidence(float(s), thresholds) for s in scores])
    assert np.all(np.diff(p) >= 0.0) and p.min() >= 0.0 and p.max() <= 1.0
    reach = 3 * ((thresholds.ng_from - thresholds.hold_low) or 0.05 * thresholds.ng_from)  # 3 x the 5 % distance
    near = np.linspace(thresholds.ng_from - reach, thresholds.ng_from + reach, 10_001)
    assert np.all(np.diff([defect_confidence(float(s), thresholds) for s in near]) > 0.0)  # strictly, near the limit


def test_no_valid_score_no_confidence_and_no_overflow():
    assert defect_confidence(float("nan"), BAND) is None
    assert defect_confidence(None, BAND) is None
    assert defect_confidence(np.float32(1.2), BAND) == pytest.approx(0.5, abs=1e-6)
    assert defect_confidence(math.inf, BAND) == 1.0 and defect_confidence(-math.inf, BAND) == pytest.approx(0.0)
    assert defect_confidence(1e300, NO_BAND) == 1.0 and defect_confidence(-1e300, NO_BAND) < 1e-300


def test_one_wording_in_whole_per_cent():
    assert confidence_text(0.5) == "defect 50 %"
    assert confidence_text(0.734) == "defect 73 %"
    assert confidence_text(0.004) == "defect <1 %" and confidence_text(0.0) == "defect <1 %"
    assert confidence_text(0.996) == "defect >99 %" and confidence_text(1.0) == "defect >99 %"
    assert confidence_text(0.985) == "defect 99 %" and confidence_text(0.01) == "defect 1 %"
    assert confidence_text(None) == "–"
