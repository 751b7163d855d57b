"""The threshold set the operators' verdicts argue for: least cost of false rejects and escapes on labelled parts.

Labelled parts are those people judged (see `LoggedPart.judgement`): good when a person passed a HOLD or
overruled an NG, defective when a person rejected it or it was reported as a defect found downstream. The
parts nobody judged count as their verdict stood: a part the station passed that nobody reported downstream
is good as far as anyone knows, an NG nobody overruled is defective. Without those, the labelled good parts
would be only the borderline ones people reviewed, and the cheapest limit on them would reject good parts
that nobody looked at because they passed. The proposal keeps the set in force's minimum defect area and has no band above the threshold; its threshold
and the foot of its HOLD band are searched over every gap between two neighbouring labelled scores, so on
the labelled parts nothing better exists. A held part is neither a false reject nor an escape, so the band
is allowed to hold at most the recipe's `hold_share` of the good parts; without that limit it would swallow
everything. Pure NumPy: no database, no model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hmi.config.schema import JudgingTargets
from hmi.core.errors import StationError
from hmi.decision.policy import ThresholdSet
from hmi.services.tuning.score_history import Comparison, ScoreHistory, verdicts_under

MIN_GOOD = 5       # labelled good parts needed before a suggestion means anything
MIN_DEFECTIVE = 1  # labelled defective parts needed
_DECIMALS = 10     # most decimals a limit is given with


@dataclass(frozen=True)
class LabelledOutcome:
    """What one threshold set does to the labelled parts, and what that costs at the recipe's cost ratio."""

    thresholds: ThresholdSet
    good: int            # judged good by a person, or passed unchallenged
    defective: int       # judged defective by a person or found downstream, or rejected unchallenged
    false_rejects: int   # labelled good, NG under the set
    good_held: int       # labelled good, HOLD under the set
    escapes: int         # labelled defective, OK under the set
    defects_held: int    # labelled defective, HOLD under the set
    cost: float


@dataclass(frozen=True)
class ThresholdSuggestion:
    """The proposed set beside the set in force: on the labelled parts, on every stored part, and in words."""

    proposed: ThresholdSet
    in_force: ThresholdSet
    before: LabelledOutcome
    after: LabelledOutcome
    comparison: Comparison
    targets: JudgingTargets
    parts: int
    downstream: int  # labelled defective parts that were reported as found downstream
    explanation: str
    judged_good: int = 0       # of the good parts, those a person judged good
    judged_defective: int = 0  # of the defective parts, those a person judged or reported defective

    @property
    def changes_anything(self) -> bool:
        """False when the set in force is already the best set on the labelled parts."""
        p, f = self.proposed, self.in_force
        return (p.score, p.hold_below, p.hold_above, p.min_defect_area_px) != (
            f.score, f.hold_below, f.hold_above, f.min_defect_area_px)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON: both sets, both outcomes, the verdict counts on every stored part, the words."""
        def outcome(o: LabelledOutcome) -> dict[str, Any]:
            return {"false_rejects": o.false_rejects, "good_held": o.good_held, "escapes": o.escapes,
                    "defects_held": o.defects_held, "cost": o.cost}

        def stored(c) -> dict[str, Any]:
            return {"ok": c.ok, "hold": c.hold, "ng": c.ng, "false_rejects": c.false_rejects,
                    "good_held": c.good_held, "escapes": c.escapes, "known_defective": c.known_defective}

        return {"recipe_targets": self.targets.model_dump(), "parts": self.parts,
                "labelled": {"good": self.after.good, "defective": self.after.defective,
                             "judged_good": self.judged_good, "judged_defective": self.judged_defective,
                             "found_downstream": self.downstream},
                "in_force": {**_set_dict(self.in_force), "labelled": outcome(self.before),
                             "stored": stored(self.comparison.in_force)},
                "proposed": {**_set_dict(self.proposed), "labelled": outcome(self.after),
                             "stored": stored(self.comparison.proposed)},
                "explanation": self.explanation}


def _set_dict(t: ThresholdSet) -> dict[str, Any]:
    return {"version": t.version, "score": t.score, "hold_below": t.hold_below, "hold_above": t.hold_above,
            "hold_low": t.hold_low, "ng_from": t.ng_from, "min_defect_area_px": t.min_defect_area_px}


def labelled_outcome(history: ScoreHistory, thresholds: ThresholdSet, targets: JudgingTargets) -> LabelledOutcome:
    """False rejects, escapes and holds of `thresholds` on the labelled parts of `history`, and their cost."""
    codes = verdicts_under(history.scores, history.largest_px, thresholds)
    good, bad = history.known_good, history.known_defective
    false_rejects = int(np.count_nonzero(good & (codes == 2)))
    escapes = int(np.count_nonzero(bad & (codes == 0)))
    return LabelledOutcome(thresholds, int(good.sum()), int(bad.sum()), false_rejects,
                           int(np.count_nonzero(good & (codes == 1))), escapes,
                           int(np.count_nonzero(bad & (codes == 1))),
                           targets.false_reject_cost * false_rejects + targets.escape_cost * escapes)


def suggest_thresholds(history: ScoreHistory, targets: JudgingTargets, in_force: ThresholdSet) -> ThresholdSuggestion:
    """The set of least cost on the labelled parts of `history`; StationError when too few parts are labelled.

    Ties go to the set that holds fewer of the stored parts, then to the set nearer the one in force.
    """
    n_good, n_bad = int(history.good.sum()), int(history.defect.sum())
    _enough_labels(history, n_good, n_bad)
    labelled = history.known_good | history.known_defective
    candidates = _candidates(history.scores[labelled], (in_force.ng_from, in_force.hold_low))
    score, hold_low = _search(history, targets, in_force, candidates)
    proposed = ThresholdSet(in_force.version + 1, score, round(score - hold_low, _DECIMALS), 0.0,
                            in_force.min_defect_area_px)
    before = labelled_outcome(history, in_force, targets)
    after = labelled_outcome(history, proposed, targets)
    downstream = int(np.count_nonzero(history.downstream & history.defect))
    return ThresholdSuggestion(proposed, in_force, before, after, history.compare(proposed, in_force), targets,
                               len(history), downstream, _explain(before, after, targets, downstream, (n_good, n_bad)),
                               n_good, n_bad)


def _enough_labels(history: ScoreHistory, n_good: int, n_bad: int) -> None:
    if n_good >= MIN_GOOD and n_bad >= MIN_DEFECTIVE:
        return
    needed = []
    if n_good < MIN_GOOD:
        needed.append(f"{MIN_GOOD - n_good} more part{'s' if MIN_GOOD - n_good != 1 else ''} a person judges good")
    if n_bad < MIN_DEFECTIVE:
        needed.append(f"{MIN_DEFECTIVE - n_bad} more part a person judges defective (or a defect found downstream)")
    raise StationError(
        f"too few parts judged by people to suggest thresholds: {n_good} good and {n_bad} defective among the last "
        f"{len(history)} parts of recipe {history.recipe or '?'} (at least {MIN_GOOD} good and {MIN_DEFECTIVE} "
        "defective are needed)",
        f"review {' and '.join(needed)} (HOLD parts on the review screen; defects found downstream are reported "
        "in the record browser), then ask again")


def _between(low: float, high: float) -> float:
    """The midpoint of (low, high), rounded to the fewest decimals that keep it strictly inside."""
    middle = (low + high) / 2.0
    for decimals in range(_DECIMALS + 1):
        value = round(middle, decimals)
        if low < value < high:
            return value
    return middle


def _candidates(scores: np.ndarray, in_force: tuple[float, ...]) -> np.ndarray:
    """One limit per gap between distinct labelled scores and at both ends (the in-force limit if in that gap)."""
    distinct = np.unique(scores)
    step = float(np.diff(distinct).mean()) if distinct.size > 1 else max(abs(float(distinct[0])) * 0.01, 1e-6)
    edges = np.concatenate(([distinct[0] - 2 * step], distinct, [distinct[-1] + 2 * step]))
    limits = []
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        # A limit v splits the labelled parts like any other in (low, high] (the ends reach to infinity).
        lo = -math.inf if k == 0 else low
        hi = math.inf if k == len(edges) - 2 else high
        own = [v for v in in_force if lo < v <= hi and math.isfinite(v)]
        limits.append(own[0] if own else _between(low, high))
    return np.array(limits, np.float64)


def _search(history: ScoreHistory, targets: JudgingTargets, in_force: ThresholdSet,
            candidates: np.ndarray) -> tuple[float, float]:
    """(threshold, foot of the HOLD band) of least cost; ties to fewer held parts, then nearer the set in force."""
    min_area = in_force.min_defect_area_px
    small = (history.largest_px < min_area) if min_area else np.zeros(len(history), bool)
    good, bad = history.known_good, history.known_defective
    allowed = math.floor(targets.hold_share * int(good.sum()) + 1e-9)

    def below(mask: np.ndarray) -> np.ndarray:
        """How many parts of `mask` score under each candidate."""
        return np.searchsorted(np.sort(history.scores[mask]), candidates, side="left")

    def at_or_above(mask: np.ndarray) -> np.ndarray:
        return int(mask.sum()) - below(mask)

    every = np.ones(len(history), bool)
    good_below, bad_below, all_below = below(good), below(bad), below(every)
    good_big_above = at_or_above(good & ~small)   # rejected once at or over the threshold
    good_small_above = at_or_above(good & small)  # held there instead (no region big enough)
    all_small_above = at_or_above(small)
    best: tuple | None = None
    for j, score in enumerate(candidates):
        feet = np.arange(j + 1)  # the band's foot at or under the threshold
        good_held = good_below[j] - good_below[feet] + good_small_above[j]
        ok = good_held <= allowed
        if not ok.any():
            continue
        feet = feet[ok]
        cost = np.round(targets.false_reject_cost * good_big_above[j] + targets.escape_cost * bad_below[feet], 9)
        feet = feet[cost == cost.min()]
        held = all_below[j] - all_below[feet] + all_small_above[j]
        feet = feet[held == held.min()]
        distance = abs(score - in_force.ng_from) + np.abs(candidates[feet] - in_force.hold_low)
        i = int(feet[np.argmin(distance)])
        key = (float(cost.min()), int(held.min()), float(distance.min()))
        if best is None or key < best[0]:
            best = (key, float(score), float(candidates[i]))
    assert best is not None, "the top candidate, with no band, holds no labelled good part"
    return best[1], best[2]


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _explain(before: LabelledOutcome, after: LabelledOutcome, targets: JudgingTargets, downstream: int,
             judged: tuple[int, int]) -> str:
    t, now = after.thresholds, before.thresholds
    found = f", {downstream} of them found downstream" if downstream else ""
    head = (f"From {judged[0]} good and {judged[1]} defective parts judged by people{found}, and the verdicts "
            f"nobody challenged ({after.good} good and {after.defective} defective in all), with a false "
            f"reject costing {targets.false_reject_cost:g} and an escape {targets.escape_cost:g}: ")
    if (t.score, t.hold_below, t.hold_above, t.min_defect_area_px) == (
            now.score, now.hold_below, now.hold_above, now.min_defect_area_px):
        return head + (f"the set in force (version {now.version}) is already the best; on those parts it rejects "
                       f"{_count(after.false_rejects, 'good part')} and passes "
                       f"{_count(after.escapes, 'defective part')} (cost {after.cost:g}).")
    band = f"HOLD from {t.hold_low:.4g}" if t.hold_below > 0 else "no HOLD band"
    return head + (
        f"threshold {t.score:.4g}, {band}. On those parts: {after.false_rejects} false rejects, {after.escapes} "
        f"escapes, {after.good_held} good parts held (cost {after.cost:g}), against {before.false_rejects}, "
        f"{before.escapes} and {before.good_held} (cost {before.cost:g}) under version {now.version} in force. "
        f"The band may hold at most {targets.hold_share:.0%} of the good parts. Check the consequences on all "
        "stored parts before applying it.")


__all__ = ["LabelledOutcome", "MIN_DEFECTIVE", "MIN_GOOD", "ThresholdSuggestion", "labelled_outcome",
           "suggest_thresholds"]
