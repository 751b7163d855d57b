"""The suggested threshold set: least cost of false rejects and escapes on the parts people judged, worked by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hmi.config.schema import JudgingTargets
from hmi.core.errors import StationError
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet
from hmi.services.tuning.score_history import LoggedPart, ScoreHistory, verdicts_under
from hmi.services.tuning.suggest import labelled_outcome, suggest_thresholds

TARGETS = JudgingTargets()  # a false reject costs 1, an escape 20; the band may hold 5 % of the good parts


def good(seq: int, score: float, largest: int = 0) -> LoggedPart:
    """A HOLD part a person passed."""
    return LoggedPart(seq, score, Verdict.HOLD, Verdict.OK, "olga", largest, 1, None)


def defect(seq: int, score: float, largest: int = 0) -> LoggedPart:
    """A HOLD part a person rejected."""
    return LoggedPart(seq, score, Verdict.HOLD, Verdict.NG, "olga", largest, 1, None)


def found_downstream(seq: int, score: float) -> LoggedPart:
    """A part the station passed that was found defective downstream."""
    return LoggedPart(seq, score, Verdict.OK, Verdict.OK, None, 0, 1, None, downstream_defect=True)


def unreviewed(seq: int, score: float, verdict: Verdict = Verdict.OK) -> LoggedPart:
    return LoggedPart(seq, score, verdict, verdict, None, 0, 1, None)


def test_a_missed_defect_pulls_the_threshold_into_the_gap_between_good_and_defective_parts():
    # Six good parts up to 0.20; a defect at 0.30 passed (found downstream) and one at 0.35 held.
    history = ScoreHistory([good(i, 0.10 + 0.02 * i) for i in range(6)]
                           + [found_downstream(6, 0.30), defect(7, 0.35), unreviewed(8, 0.05)], recipe="r1")
    in_force = ThresholdSet(1, 0.40, 0.08)  # HOLD 0.32 - 0.40: the 0.30 defect escapes
    s = suggest_thresholds(history, TARGETS, in_force)
    # The only gap that separates them is (0.20, 0.30): its midpoint, no band (a band would hold a good part).
    assert s.proposed == ThresholdSet(2, 0.25, 0.0, 0.0, 0)
    assert (s.before.false_rejects, s.before.escapes, s.before.cost) == (0, 1, 20.0)
    assert (s.after.false_rejects, s.after.escapes, s.after.good_held, s.after.cost) == (0, 0, 0, 0.0)
    # The unreviewed part the station passed counts as good: nobody challenged it.
    assert (s.after.good, s.after.defective, s.downstream) == (7, 2, 1)
    assert (s.judged_good, s.judged_defective) == (6, 2)
    assert s.comparison.in_force.escapes == 1 and s.comparison.proposed.escapes == 0
    assert (s.comparison.proposed.ok, s.comparison.proposed.hold, s.comparison.proposed.ng) == (7, 0, 2)
    assert "threshold 0.25" in s.explanation and "1 of them found downstream" in s.explanation
    assert "cost 0" in s.explanation and "cost 20" in s.explanation


def test_the_cost_ratio_decides_between_rejecting_good_parts_and_passing_a_defect():
    # Good parts at 0.1 ... 0.5 and two above the one defect at 0.60.
    parts = [good(i, s) for i, s in enumerate((0.1, 0.2, 0.3, 0.4, 0.5, 0.62, 0.64))] + [defect(9, 0.60)]
    history = ScoreHistory(parts, recipe="r1")
    in_force = ThresholdSet(1, 0.90)
    # An escape costs 20: rejecting the two good parts above the defect (cost 2) is cheaper.
    s = suggest_thresholds(history, TARGETS, in_force)
    assert s.proposed.score == 0.55 and s.proposed.hold_below == 0.0
    assert (s.after.false_rejects, s.after.escapes, s.after.cost) == (2, 0, 2.0)
    # An escape costs 1: passing it (cost 1) beats two false rejects; the set in force already does that.
    cheap = suggest_thresholds(history, JudgingTargets(escape_cost=1.0), in_force)
    assert cheap.proposed == ThresholdSet(2, 0.90, 0.0, 0.0, 0) and not cheap.changes_anything
    assert (cheap.after.false_rejects, cheap.after.escapes, cheap.after.cost) == (0, 1, 1.0)
    assert "already the best" in cheap.explanation


def test_the_hold_band_catches_a_borderline_defect_but_holds_no_more_good_parts_than_the_recipe_allows():
    # Twenty good parts 0.01 ... 0.20: 5 % of them is one part the band may hold. A defect at 0.195 sits
    # between the two highest good parts, another at 0.5.
    parts = [good(i, round(0.01 * (i + 1), 2)) for i in range(20)] + [defect(20, 0.195), defect(21, 0.5)]
    history = ScoreHistory(parts, recipe="r1")
    s = suggest_thresholds(history, TARGETS, ThresholdSet(1, 0.45))
    # Threshold: the set in force's 0.45 lies in the gap (0.20, 0.5) and splits the parts as its midpoint
    # would; the band's foot goes into (0.19, 0.195] to hold the defect and the 0.20 good part, nothing else.
    assert s.proposed.score == 0.45
    assert s.proposed.hold_low == pytest.approx(0.192)
    assert (s.after.false_rejects, s.after.escapes, s.after.good_held, s.after.defects_held) == (0, 0, 1, 1)
    # With no room to hold a good part, rejecting the 0.20 good part is next best (cost 1).
    strict = suggest_thresholds(history, JudgingTargets(hold_share=0.0), ThresholdSet(1, 0.45))
    assert strict.proposed.hold_below == 0.0 and strict.proposed.score == pytest.approx(0.1925, abs=0.0006)
    assert (strict.after.false_rejects, strict.after.escapes, strict.after.good_held) == (1, 0, 0)


def test_ties_go_to_fewer_held_parts_then_to_the_set_in_force():
    # Good parts up to 0.2, defects from 0.6: any threshold in (0.2, 0.6) costs nothing. Two HOLD parts nobody
    # reviewed (no label) at 0.3 and 0.5: the in-force band holds the one at 0.3, so there is none; in force
    # 0.45 lies in the gap, so it stays.
    parts = [good(i, 0.04 * (i + 1)) for i in range(5)] + [defect(5, 0.6), defect(6, 0.7)]
    history = ScoreHistory(parts + [unreviewed(7, 0.3, Verdict.HOLD), unreviewed(8, 0.5, Verdict.HOLD)],
                           recipe="r1")
    s = suggest_thresholds(history, TARGETS, ThresholdSet(1, 0.45, 0.2))
    assert s.proposed == ThresholdSet(2, 0.45, 0.0, 0.0, 0)
    assert s.comparison.proposed.hold == 0 and s.comparison.in_force.hold == 1


def test_parts_that_passed_unchallenged_keep_the_limit_out_of_the_good_parts():
    # People reviewed only the borderline parts: five good ones at 0.50 ... 0.54 and a missed defect at 0.30
    # (found downstream). Forty parts passed at 0.20 ... 0.39 and nobody said a word about them.
    passed = [unreviewed(10 + i, round(0.20 + 0.005 * i, 3)) for i in range(40)]
    history = ScoreHistory([good(i, 0.50 + 0.01 * i) for i in range(5)] + [found_downstream(5, 0.30)] + passed,
                           recipe="r1")
    s = suggest_thresholds(history, TARGETS, ThresholdSet(1, 0.60, 0.12))
    # Catching the defect means rejecting the passed parts at or above 0.30 and the five reviewed ones (with
    # two of them held at most, 5 % of 45 good parts: cost 23), dearer than the one escape (20). Counting only
    # the reviewed parts, a threshold at 0.4 would have looked free.
    assert (s.after.false_rejects, s.after.escapes, s.after.cost) == (0, 1, 20.0)
    assert s.proposed.hold_low > 0.39 and s.proposed.ng_from > 0.54
    assert (s.after.good, s.judged_good) == (45, 5)


def test_the_set_in_force_keeps_its_minimum_defect_area_and_high_scores_without_a_region_are_held():
    # A good part scoring high but without a region big enough is held, not rejected: no false reject.
    parts = [good(i, 0.1 + 0.01 * i) for i in range(5)] + [good(5, 0.8, largest=10), defect(6, 0.6, largest=400)]
    history = ScoreHistory(parts, recipe="r1")
    s = suggest_thresholds(history, JudgingTargets(hold_share=0.2), ThresholdSet(1, 0.9, min_defect_area_px=100))
    assert s.proposed.min_defect_area_px == 100 and s.proposed.score < 0.6
    assert (s.after.false_rejects, s.after.escapes, s.after.good_held) == (0, 0, 1)


def test_too_few_judged_parts_say_how_many_more_reviews_are_needed():
    four = [good(i, 0.1 * i) for i in range(4)]
    with pytest.raises(StationError) as info:
        suggest_thresholds(ScoreHistory(four + [defect(9, 0.9)], recipe="r1"), TARGETS, ThresholdSet(1, 0.5))
    assert "4 good and 1 defective" in info.value.what
    assert "review 1 more part a person judges good" in info.value.todo
    with pytest.raises(StationError) as info:
        suggest_thresholds(ScoreHistory(four + [good(4, 0.5)], recipe="r1"), TARGETS, ThresholdSet(1, 0.5))
    assert "1 more part a person judges defective" in info.value.todo
    with pytest.raises(StationError) as info:
        suggest_thresholds(ScoreHistory([], recipe="r1"), TARGETS, ThresholdSet(1, 0.5))
    assert "5 more parts a person judges good and 1 more part" in info.value.todo


@pytest.mark.parametrize("seed", range(12))
def test_no_threshold_set_costs_less_on_the_judged_parts(seed):
    """Against every pair of limits over a fine grid: nothing feasible is cheaper than the suggestion."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(12, 40))
    is_good = rng.random(n) < 0.7
    scores = np.round(np.where(is_good, rng.normal(0.3, 0.1, n), rng.normal(0.5, 0.15, n)), 3)
    largest = rng.integers(0, 300, n)
    judged = rng.random(n) < 0.8
    is_good[:5], judged[:6], is_good[5] = True, True, False  # enough of both
    parts = [LoggedPart(i, float(scores[i]), Verdict.HOLD, Verdict.OK if is_good[i] else Verdict.NG,
                        "olga" if judged[i] else None, int(largest[i]), 1, None) for i in range(n)]
    history = ScoreHistory(parts, recipe="r1")
    targets = JudgingTargets(escape_cost=float(rng.choice([1.0, 5.0, 20.0])), hold_share=float(rng.choice([0.0, 0.1])))
    in_force = ThresholdSet(1, 0.45, 0.05, 0.0, int(rng.choice([0, 100])))
    s = suggest_thresholds(history, targets, in_force)
    allowed = int(np.floor(targets.hold_share * s.after.good + 1e-9))
    assert s.after.good_held <= allowed
    grid = np.concatenate(([-1.0, 2.0], np.unique(scores), np.unique(scores) + 0.0005))
    for low, high in itertools.combinations_with_replacement(np.sort(grid), 2):
        t = ThresholdSet(2, float(high), float(high - low), 0.0, in_force.min_defect_area_px)
        o = labelled_outcome(history, t, targets)
        if o.good_held <= allowed:
            assert o.cost >= s.after.cost - 1e-9, (t, o, s.proposed, s.after)
    codes = verdicts_under(history.scores, history.largest_px, s.proposed)
    assert int(np.count_nonzero(history.defect & (codes == 0))) == s.after.escapes
