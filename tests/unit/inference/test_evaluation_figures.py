"""The figures of `hmi evaluate`, on scores whose answers can be counted by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hmi.inference.evaluation import auroc, escapes_floor, recall_at

GOOD = np.arange(1.0, 101.0)          # 100 good parts scoring 1..100


def test_auroc_counts_pairs_and_halves_ties() -> None:
    """Every defective part above every good one is 1; one tie among four pairs counts half."""
    assert auroc(GOOD, GOOD + 1000) == 1.0
    assert auroc(np.array([1.0, 2.0]), np.array([2.0, 3.0])) == pytest.approx(0.875)


def test_recall_at_a_false_reject_share() -> None:
    """At 1 % of 100 good parts one may be rejected: the limit sits above the second highest (99)."""
    bad = np.array([98.0, 99.0, 99.5, 100.0, 150.0])
    assert recall_at(GOOD, bad, 0.01) == pytest.approx(3 / 5)


def test_escapes_floor_lets_one_reject_and_five_holds() -> None:
    """1 % rejected and 5 % held of 100 good parts flag the six highest: the band starts above 94."""
    bad = np.array([90.0, 94.0, 94.5, 96.0, 200.0])
    assert escapes_floor(GOOD, bad, 0.01, 0.05) == pytest.approx(2 / 5)
    assert escapes_floor(GOOD, bad, 0.01, 0.0) == pytest.approx(4 / 5)


def test_escapes_floor_with_few_good_parts_allows_none_flagged() -> None:
    """With 8 good parts neither 1 % nor 5 % is a whole part: the band starts above the highest good one."""
    good = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    assert escapes_floor(good, np.array([7.5, 8.0, 9.0, 10.0]), 0.01, 0.05) == pytest.approx(2 / 4)
