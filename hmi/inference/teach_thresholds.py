"""Default decision limits of a freshly taught model, from the scores of good parts it has never seen."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hmi.inference.package import ThresholdDefaults

DEFAULT_FALSE_REJECT = 0.01   # share of good parts the default threshold may reject
DEFAULT_HOLD_SHARE = 0.05     # share of good parts the HOLD band under it may send to review
# Confidence margin on the fitted threshold, in standard errors of the fitted tail quantile.
MARGIN_STANDARD_ERRORS = 1.645  # one-sided 95 %
# Floor on the fitted scale, as a share of the median, so near-identical scores still leave a band.
MIN_RELATIVE_SCALE = 0.01

_IQR_PER_SCALE = math.log(-math.log(0.25)) - math.log(-math.log(0.75))   # Gumbel IQR / scale, 1.5725
_MEDIAN_OFFSET = -math.log(math.log(2.0))                                 # (median - location) / scale


@dataclass(frozen=True)
class Calibration:
    """Decision defaults and the statistics they were derived from."""

    thresholds: ThresholdDefaults
    region_threshold: float
    mean: float
    spread: float
    heldout_max: float
    location: float = 0.0
    scale: float = 0.0
    false_reject: float = DEFAULT_FALSE_REJECT
    hold_share: float = DEFAULT_HOLD_SHARE

    def quantile(self, q: float) -> float:
        """The fitted good-score quantile q (0 < q < 1)."""
        return self.location - self.scale * math.log(-math.log(q))

    def good_above(self, score: float) -> float:
        """Fitted share of good parts scoring above `score`."""
        return float(1.0 - math.exp(-math.exp(-(score - self.location) / max(self.scale, 1e-12))))


def gumbel_fit(scores: np.ndarray) -> tuple[float, float]:
    """(location, scale) of a Gumbel law fitted by median and interquartile range: one odd score cannot move it."""
    x = np.asarray(scores, np.float64)
    q25, median, q75 = np.percentile(x, [25, 50, 75])
    scale = max((q75 - q25) / _IQR_PER_SCALE, MIN_RELATIVE_SCALE * abs(median), 1e-9)
    return float(median - _MEDIAN_OFFSET * scale), float(scale)


def quantile_standard_error(q: float, n: int) -> float:
    """Standard error, in units of the scale, of a Gumbel quantile fitted from n scores.

    Asymptotic variance of the maximum-likelihood quantile (Gumbel): (1.109 + 0.514 y + 0.608 y^2) / n with
    y = -ln(-ln q); a median/IQR fit is somewhat less efficient, so this errs on the small side for it.
    """
    y = -math.log(-math.log(q))
    return math.sqrt((1.109 + 0.514 * y + 0.608 * y * y) / max(n, 1))


def calibrate(heldout_scores: np.ndarray, false_reject: float = DEFAULT_FALSE_REJECT,
              hold_share: float = DEFAULT_HOLD_SHARE) -> Calibration:
    """Threshold that rejects at most `false_reject` of good parts, and a HOLD band under it.

    An image score is the largest patch distance on the part, a maximum over many patches, so good-part
    scores follow an extreme-value (Gumbel) law. Its location and scale are fitted from the median and the
    interquartile range of the held-out good scores, which neither one odd image nor a few images can pull
    far. The threshold is the fitted (1 - false_reject) quantile plus a one-sided 95 % confidence margin
    for having fitted it from few images; the HOLD band starts at the fitted (1 - false_reject - hold_share)
    quantile, so the uncertain zone under the threshold goes to review while at most about `hold_share` of
    good parts are held. Parts at or above the threshold are NG (no band above it).

    The region threshold is the bottom of the band: a pixel belongs to a defect region where the map reaches
    a level that would by itself make the part borderline.
    """
    scores = np.asarray(heldout_scores, np.float64)
    location, scale = gumbel_fit(scores)
    q_ng = 1.0 - false_reject
    margin = MARGIN_STANDARD_ERRORS * quantile_standard_error(q_ng, scores.size) * scale
    threshold = location - scale * math.log(-math.log(q_ng)) + margin
    hold_low = min(location - scale * math.log(-math.log(max(q_ng - hold_share, 0.5))), threshold)
    thresholds = ThresholdDefaults(score=round(threshold, 6), hold_below=round(threshold - hold_low, 6),
                                   hold_above=0.0)
    spread = float(scores.std(ddof=1)) if scores.size > 1 else 0.0
    return Calibration(thresholds, round(hold_low, 6), float(scores.mean()), spread, float(scores.max()),
                       location, scale, false_reject, hold_share)


def heldout_needed(false_reject: float = DEFAULT_FALSE_REJECT) -> int:
    """Held-out good parts for a threshold whose confidence margin stays under one fitted scale."""
    y = -math.log(-math.log(1.0 - false_reject))
    return math.ceil(MARGIN_STANDARD_ERRORS ** 2 * (1.109 + 0.514 * y + 0.608 * y * y))


def more_images_text(heldout: int, more: int) -> str:
    """The plain-words warning for a model taught on too few good images to set a reliable threshold."""
    return (f"Only {heldout} good parts could be held back to set the threshold, so it is a rough guess with a wide "
            f"safety margin (more escapes). Teach again with {more} more good images before you rely on it.")
