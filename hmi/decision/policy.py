"""Turn a part's inspection into OK / NG / HOLD / NOT_INSPECTED under a versioned ThresholdSet."""

from __future__ import annotations

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


def decide(inspection: Inspection | None, thresholds: ThresholdSet, failure: str | None = None) -> tuple[Verdict, str]:
    """The automatic verdict and its reason; a part without an inspection is NOT_INSPECTED (a reject)."""
    if failure is not None or inspection is None:
        return Verdict.NOT_INSPECTED, failure or "no inspection result"
    s = inspection.score
    if s != s:  # NaN: the model produced garbage, never call that OK
        return Verdict.NOT_INSPECTED, "model returned no valid score"
    if s < thresholds.hold_low:
        return Verdict.OK, f"score {s:.3f} below {thresholds.hold_low:.3f}"
    if s < thresholds.ng_from:
        return Verdict.HOLD, f"score {s:.3f} in borderline band {thresholds.hold_low:.3f}–{thresholds.ng_from:.3f}"
    largest = max((r.area_px for r in inspection.regions), default=0)
    if thresholds.min_defect_area_px and largest < thresholds.min_defect_area_px:
        return Verdict.HOLD, (
            f"score {s:.3f} over {thresholds.ng_from:.3f} but largest region {largest} px "
            f"is under the minimum {thresholds.min_defect_area_px} px"
        )
    return Verdict.NG, f"score {s:.3f} at or above {thresholds.ng_from:.3f}"
