"""Model health: has the good-part score distribution moved away from the one the model was taught with?"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Population stability index bands as used in industry: under 0.1 no real change, 0.1-0.25 a moderate
# change worth watching, above 0.25 a significant change.
PSI_WATCH = 0.10
PSI_DRIFT = 0.25
# Two-sample Kolmogorov-Smirnov: c(alpha) for alpha 0.05 and 0.01.
KS_C = {0.05: 1.358, 0.01: 1.628}


@dataclass(frozen=True)
class Binned:
    """Counts of scores in bins [edges[i], edges[i+1]); scores outside were put in the first or last bin."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def n(self) -> int:
        """How many scores."""
        return int(sum(self.counts))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """Share of scores at or below x, linear inside each bin."""
        cum = np.concatenate([[0.0], np.cumsum(self.counts, dtype=float)]) / max(1, self.n)
        return np.interp(x, np.asarray(self.edges), cum)

    def quantile(self, q: float) -> float:
        """Score below which the share q lies (linear inside each bin)."""
        cum = np.concatenate([[0.0], np.cumsum(self.counts, dtype=float)]) / max(1, self.n)
        return float(np.interp(q, cum, np.asarray(self.edges)))


def binned(scores: np.ndarray | list[float], edges: tuple[float, ...]) -> Binned:
    """Put raw scores into `edges`, the out-of-range ones into the end bins."""
    e = np.asarray(edges)
    idx = np.clip(np.searchsorted(e, np.asarray(scores, float), side="right") - 1, 0, len(e) - 2)
    return Binned(edges, tuple(int(c) for c in np.bincount(idx, minlength=len(e) - 1)))


@dataclass(frozen=True)
class DriftCheck:
    """This shift's good-part scores against a baseline: KS distance, PSI, median shift and a word."""

    baseline: str
    baseline_n: int
    shift_n: int
    ks_distance: float
    ks_critical: float
    psi: float
    median_shift: float
    state: str  # 'stable', 'watch', 'drifted' or 'too few parts'

    @property
    def words(self) -> str:
        """The finding in a sentence for the screen and the PDF."""
        if self.state == "too few parts":
            return f"Too few good parts to judge drift ({self.shift_n} this shift, {self.baseline_n} in the baseline)."
        return (f"{self.state.capitalize()}: PSI {self.psi:.2f}, KS distance {self.ks_distance:.2f} "
                f"(noise level {self.ks_critical:.2f}), median moved {self.median_shift:+.3g} "
                f"against {self.baseline}.")


def compare(current: Binned, baseline: Binned, baseline_words: str, min_parts: int = 20) -> DriftCheck:
    """Judge drift of `current` against `baseline` (both binned on the same edges)."""
    n, m = current.n, baseline.n
    if n < min_parts or m < min_parts:
        return DriftCheck(baseline_words, m, n, math.nan, math.nan, math.nan, math.nan, "too few parts")
    x = np.asarray(current.edges)
    ks = float(np.max(np.abs(current.cdf(x) - baseline.cdf(x))))
    scale = math.sqrt((n + m) / (n * m))
    # PSI over the baseline's deciles, so each bin holds a tenth of the baseline however few scores it has.
    cuts = np.array([baseline.quantile(q) for q in np.linspace(0.0, 1.0, 11)])
    cuts[0], cuts[-1] = x[0], x[-1]
    p = np.clip(np.diff(baseline.cdf(cuts)), 1e-4, None)
    q = np.clip(np.diff(current.cdf(cuts)), 1e-4, None)
    psi = float(np.sum((q - p) * np.log(q / p)))
    median_shift = current.quantile(0.5) - baseline.quantile(0.5)
    if psi >= PSI_DRIFT and ks > KS_C[0.01] * scale:
        state = "drifted"
    elif psi >= PSI_WATCH and ks > KS_C[0.05] * scale:
        state = "watch"
    else:
        state = "stable"
    return DriftCheck(baseline_words, m, n, ks, KS_C[0.01] * scale, psi, median_shift, state)
