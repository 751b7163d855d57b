"""The teach-time check that an INT8 backbone keeps a product's accuracy (hmi.inference.teach_int8)."""

from __future__ import annotations

import numpy as np
import pytest

from hmi.inference.teach_int8 import (MAX_SPREAD_RATIO, MIN_AGREEMENT, Int8Check, compare, rank_agreement,
                                    relative_spread)

NEEDED = 45


def good_scores(n: int = 60, seed: int = 0) -> np.ndarray:
    """Held-out good scores as a maximum over many patches gives them: Gumbel, level 10, scale 0.4."""
    return np.random.default_rng(seed).gumbel(10.0, 0.4, n)


def test_int8_that_moves_the_scores_a_little_is_kept() -> None:
    f = good_scores()
    q = 1.3 * f + np.random.default_rng(1).normal(0, 0.02, f.size)  # another scale, the same parts' order
    check = compare(q, f, NEEDED)
    assert check.kept and check.reasons() == []
    assert check.spread_ratio == pytest.approx(1.0, abs=0.05) and check.agreement > 0.99


def test_int8_that_scatters_good_parts_wider_is_not_kept_and_says_so() -> None:
    f = good_scores()
    q = f + np.random.default_rng(1).gumbel(0.0, 0.4, f.size)  # noise as large as the good parts' own spread
    check = compare(q, f, NEEDED)
    assert check.spread_ratio > MAX_SPREAD_RATIO and not check.kept
    assert any("spread" in r and "defects would pass more often" in r for r in check.reasons())


def test_int8_that_reorders_the_parts_is_not_kept() -> None:
    f = good_scores()
    q = np.random.default_rng(5).permutation(f)  # the same spread, the parts in another order
    check = compare(q, f, NEEDED)
    assert check.spread_ratio == pytest.approx(1.0) and check.agreement < MIN_AGREEMENT
    assert [r for r in check.reasons() if "ranks the held-out good parts differently" in r]


def test_too_few_held_out_parts_cannot_show_that_int8_holds() -> None:
    f = good_scores(20)
    check = compare(f, f, NEEDED)
    assert not check.kept
    assert check.reasons() == ["only 20 good parts could be held back, and showing that INT8 keeps the accuracy "
                               "needs 45"]
    assert check.as_extra()["int8_check_kept"] == 0.0


def test_rank_agreement_is_spearmans_with_ties_sharing_their_rank() -> None:
    assert rank_agreement(np.array([1.0, 2.0, 3.0, 4.0]), np.array([10.0, 20.0, 30.0, 40.0])) == pytest.approx(1.0)
    assert rank_agreement(np.array([1.0, 2.0, 3.0, 4.0]), np.array([4.0, 3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    # Ranks 0, 1.5, 1.5, 3 against 0, 1, 2, 3: Pearson's r of the ranks, 0.9487.
    assert rank_agreement(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(0.948683, abs=1e-6)
    assert np.isnan(rank_agreement(np.array([1.0, 2.0]), np.array([1.0, 2.0])))


def test_relative_spread_does_not_depend_on_the_scores_unit() -> None:
    f = good_scores()
    assert relative_spread(3.0 * f) == pytest.approx(relative_spread(f))
    assert relative_spread(np.zeros(10)) == float("inf")


def test_scores_of_other_parts_are_refused() -> None:
    with pytest.raises(ValueError):
        compare(good_scores(10), good_scores(11), NEEDED)


def test_the_check_read_back_from_a_manifest_is_the_one_written() -> None:
    f = good_scores()
    check = compare(f * 1.1, f, NEEDED)
    extra = {key: float(value) for key, value in check.as_extra().items()}
    back = Int8Check.from_extra(extra)
    assert back is not None and back.kept == check.kept and back.heldout == 60 and back.heldout_needed == NEEDED
    assert back.spread_ratio == pytest.approx(check.spread_ratio, rel=1e-4)
    assert Int8Check.from_extra({"backbone_precision": "float"}) is None  # taught without the check
