"""Default thresholds from held-out good scores: the targets hold, one odd image and few images cannot fool them."""

from __future__ import annotations

import math

import numpy as np

from hmi.inference.teach import _folds, _more_images_needed
from hmi.inference.teach_thresholds import calibrate, gumbel_fit, heldout_needed, more_images_text

LOCATION, SCALE = 20.0, 1.5


def _gumbel(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).gumbel(LOCATION, SCALE, n)


def test_targets_hold_on_new_good_parts() -> None:
    """Fitted on 200 held-out scores, the limits reject about 1 % and hold about 5 % of fresh good parts."""
    cal = calibrate(_gumbel(200, 1))
    fresh = _gumbel(200_000, 2)
    rejected = np.mean(fresh >= cal.thresholds.score)
    held = np.mean((fresh >= cal.region_threshold) & (fresh < cal.thresholds.score))
    assert rejected <= 0.01
    assert 0.03 <= held <= 0.07


def test_other_targets_move_the_limits() -> None:
    """A stricter false-reject target raises the threshold; no hold share closes the band."""
    scores = _gumbel(200, 3)
    base = calibrate(scores)
    strict = calibrate(scores, false_reject=0.001, hold_share=0.0)
    assert strict.thresholds.score > base.thresholds.score
    assert strict.thresholds.hold_below < base.thresholds.hold_below
    assert (strict.false_reject, strict.hold_share) == (0.001, 0.0)


def test_one_odd_image_does_not_move_the_threshold() -> None:
    """One held-out image scoring ten times the others changes the threshold by well under one scale."""
    scores = _gumbel(60, 4)
    odd = scores.copy()
    odd[0] = 10 * scores.max()
    assert abs(calibrate(odd).thresholds.score - calibrate(scores).thresholds.score) < 0.25 * SCALE


def test_few_images_give_a_wider_margin() -> None:
    """The fewer the held-out scores, the further the threshold sits above the fitted 99 % quantile."""
    def margin(n: int) -> float:
        cal = calibrate(_gumbel(n, 5))
        return cal.thresholds.score - cal.quantile(0.99)

    assert margin(12) > margin(50) > margin(400) > 0


def test_fit_recovers_the_law() -> None:
    """Median/IQR fit of many scores lands near the true location and scale."""
    location, scale = gumbel_fit(_gumbel(20_000, 6))
    assert math.isclose(location, LOCATION, abs_tol=0.05)
    assert math.isclose(scale, SCALE, rel_tol=0.05)


def test_large_sets_hold_back_what_the_target_needs() -> None:
    """Beyond the cross-check size, one group holds back at least what a reliable threshold needs."""
    need = heldout_needed(0.01)
    folds = _folds(160, 0.2, 0, need)
    assert len(folds) == 1 and len(folds[0]) == need
    assert len(_folds(1000, 0.2, 0, need)[0]) == 200
    assert _more_images_needed(160, need, 0.01) == 0


def test_too_few_images_say_how_many_more() -> None:
    """A small set names the number of good images still missing, in plain words."""
    need = heldout_needed(0.01)
    assert need == 45
    assert _more_images_needed(12, 12, 0.01) == need - 12
    text = more_images_text(12, need - 12)
    assert f"{need - 12} more good images" in text and "12 good parts" in text


def test_need_shrinks_with_a_looser_target() -> None:
    """A looser false-reject target needs fewer held-out parts."""
    assert heldout_needed(0.05) < heldout_needed(0.01) < heldout_needed(0.001)
