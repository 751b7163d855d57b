"""Default decision limits of a freshly taught model, from the scores of good parts it has never seen."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmi.inference.package import ThresholdDefaults

# Score threshold = mean + SPREADS_TO_THRESHOLD x standard deviation of the held-out good scores.
SPREADS_TO_THRESHOLD = 3.5
# Borderline band either side of the threshold, in standard deviations.
SPREADS_TO_HOLD = 0.5
# Floor on the spread, as a share of the mean, so a handful of near-identical scores still leaves a band.
MIN_RELATIVE_SPREAD = 0.03


@dataclass(frozen=True)
class Calibration:
    """Decision defaults and the statistics they were derived from."""

    thresholds: ThresholdDefaults
    region_threshold: float
    mean: float
    spread: float
    heldout_max: float


def calibrate(heldout_scores: np.ndarray) -> Calibration:
    """Threshold, borderline band and region threshold that reject at most about 1 % of good parts.

    An image score is the largest patch distance on the part, a maximum over many patches, so good-part
    scores follow an extreme-value (Gumbel-like) law with a longer right tail than a normal one. With a
    few dozen held-out parts a 99th percentile cannot be read off directly, so the threshold is placed
    at mean + 3.5 standard deviations: for a Gumbel law that is exceeded by about 0.6 % of good parts (for a
    normal law by 0.02 %), which keeps false rejects under 1 % with room for the uncertainty of the estimate.
    It is never below the highest held-out score, so no good part seen at teach time would be rejected.

    The borderline band is half a standard deviation either side: parts just under the threshold are held
    for review rather than passed, parts just over it are held rather than rejected.

    The region threshold is the bottom of the band: a pixel belongs to a defect region where the map reaches
    a level that would by itself make the part borderline, so every held or rejected part shows at least
    one region, and a good part's normal texture never does.
    """
    scores = np.asarray(heldout_scores, np.float64)
    mean = float(scores.mean())
    spread = float(scores.std(ddof=1)) if scores.size > 1 else 0.0
    spread = max(spread, MIN_RELATIVE_SPREAD * abs(mean))
    top = float(scores.max())
    score = max(mean + SPREADS_TO_THRESHOLD * spread, top)
    band = SPREADS_TO_HOLD * spread
    thresholds = ThresholdDefaults(score=round(score, 6), hold_below=round(band, 6), hold_above=round(band, 6))
    return Calibration(thresholds, round(score - band, 6), mean, spread, top)
