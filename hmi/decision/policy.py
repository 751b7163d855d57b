"""Turn a part's inspection into OK / NG / HOLD / NOT_INSPECTED under a versioned ThresholdSet."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hmi.core.part import Inspection
from hmi.core.verdict import Verdict


@dataclass(frozen=True)
class ThresholdSet:
    """Versioned decision limits of a recipe; every record names the version it was judged by.

    A score at or above `score` is a defect. Scores within `hold_below` under it, or within
    `hold_above` over it, are borderline and go to review (HOLD). A defect also needs one region
    of at least `min_defect_area_px` pixels; a high score without one is held for review.
    """

    version: int
    score: float
    hold_below: float = 0.0
    hold_above: float = 0.0
    min_defect_area_px: int = 0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.score, self.hold_below, self.hold_above)):
            # inf would pass every part, NaN reject every one: refused wherever thresholds enter (docs/models.md)
            raise ValueError("threshold and borderline band must be finite numbers")
        if self.hold_below < 0 or self.hold_above < 0:
            raise ValueError("borderline band margins must be zero or positive")
        if self.min_defect_area_px < 0:
            raise ValueError("minimum defect area must be zero or positive")

    @property
    def hold_low(self) -> float:
        """Lowest score that is held for review."""
        return self.score - self.hold_below

    @property
    def ng_from(self) -> float:
        """Lowest score that is rejected outright."""
        return self.score + self.hold_above


def score_text(value: float) -> str:
    """A score or score limit as every screen and verdict writes it, so one limit reads as one number everywhere."""
    return f"{value:.3f}"


def hold_words(t: ThresholdSet) -> str:
    """A set's HOLD band as every screen says it: 'HOLD 0.250 – 0.350', or 'no HOLD band'."""
    return f"HOLD {score_text(t.hold_low)} – {score_text(t.ng_from)}" if t.ng_from > t.hold_low else "no HOLD band"


def area_words(t: ThresholdSet) -> str:
    """A set's least defect area as a trailing clause (', min. defect 40 px'), or '' when it has none."""
    return f", min. defect {t.min_defect_area_px} px" if t.min_defect_area_px else ""


_LN19 = math.log(19.0)  # a logistic is at 5 % this many spreads under its midpoint
_MAX_EXPONENT = 700.0   # math.exp overflows just above 709


def defect_confidence(score: float | None, thresholds: ThresholdSet) -> float | None:
    """The station's confidence that a part with `score` is defective: 50 % at the NG limit, 5 % at hold_low.

    A logistic in the score, so it rises with the score everywhere. Without a HOLD band its 5 % point lies
    5 % of the limit under the limit. None when there is no valid score.
    """
    if score is None:
        return None
    score = float(score)
    if score != score:
        return None
    limit = thresholds.ng_from
    band = limit - thresholds.hold_low
    spread = (band if band > 0 else max(0.05 * abs(limit), 1e-6)) / _LN19
    exponent = min(_MAX_EXPONENT, max(-_MAX_EXPONENT, (limit - score) / spread))
    return 1.0 / (1.0 + math.exp(exponent))


def confidence_percent(p: float | None) -> str:
    """The confidence in whole per cent: '73 %', '<1 %' and '>99 %' at the ends, '–' for none."""
    if p is None or p != p:
        return "–"
    whole = math.floor(p * 100.0 + 0.5)
    if whole < 1:
        return "<1 %"
    if whole > 99:
        return ">99 %"
    return f"{whole} %"


def confidence_text(p: float | None) -> str:
    """The confidence as every screen words it: 'defect 73 %' ('defect <1 %', 'defect >99 %'), '–' for none."""
    percent = confidence_percent(p)
    return percent if percent == "–" else f"defect {percent}"


def decide(inspection: Inspection | None, thresholds: ThresholdSet, failure: str | None = None) -> tuple[Verdict, str]:
    """The automatic verdict and its reason; a part without an inspection is NOT_INSPECTED (a reject)."""
    if failure is not None or inspection is None:
        return Verdict.NOT_INSPECTED, failure or "no inspection result"
    s = inspection.score
    if s != s:  # NaN: the model produced garbage, never call that OK
        return Verdict.NOT_INSPECTED, "model returned no valid score"
    low, limit = score_text(thresholds.hold_low), score_text(thresholds.ng_from)
    if s < thresholds.hold_low:
        return Verdict.OK, f"score {score_text(s)} below {low}"
    if s < thresholds.ng_from:
        return Verdict.HOLD, f"score {score_text(s)} in borderline band {low}–{limit}"
    largest = max((r.area_px for r in inspection.regions), default=0)
    if thresholds.min_defect_area_px and largest < thresholds.min_defect_area_px:
        return Verdict.HOLD, (
            f"score {score_text(s)} over {limit} but largest region {largest} px "
            f"is under the minimum {thresholds.min_defect_area_px} px"
        )
    return Verdict.NG, f"score {score_text(s)} at or above {limit}"
