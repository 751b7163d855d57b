"""Whether an INT8 backbone keeps a product's accuracy, judged at teach time from the held-out good parts.

`hmi teach --backbone int8` quantises the backbone and builds its memory banks from the INT8 features. The
held-out good parts that set the default thresholds are then scored twice: by the INT8 model, and by a float
twin whose banks hold the same patches' float features. Two figures compare them:

- the spread of the good scores against their level (the fitted Gumbel scale over the median). Where the INT8
  features add noise, good parts scatter wider, the default threshold rises above them, and a defect must
  stand out further to be rejected (the weld set, docs/performance.md);
- the agreement of the two scores part by part (Spearman rank correlation). Where it is low, INT8 reorders
  what float judges, and the ranking of defects cannot be trusted to it either.

INT8 is kept only when enough good parts were held out to show it (as many as a reliable threshold needs),
its spread is at most `MAX_SPREAD_RATIO` times float's, and the rank agreement is at least `MIN_AGREEMENT`.
Otherwise teach builds the float model instead and says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmi.inference.evaluation import mid_ranks
from hmi.inference.teach_thresholds import gumbel_fit

MAX_SPREAD_RATIO = 1.10   # INT8's relative spread of good scores over float's, at most
MIN_AGREEMENT = 0.8       # Spearman rank correlation of the held-out parts' INT8 and float scores, at least


@dataclass(frozen=True)
class Int8Check:
    """The held-out comparison of an INT8 backbone with float, and whether INT8 is kept."""

    heldout: int            # held-out good parts scored by both
    heldout_needed: int     # held-out parts a reliable threshold needs (teach_thresholds.heldout_needed)
    spread_float: float     # Gumbel scale / median of the float twin's held-out scores
    spread_int8: float      # the same for the INT8 model
    agreement: float        # Spearman rank correlation of the two scores, part by part

    @property
    def spread_ratio(self) -> float:
        """INT8's relative spread over float's (1.0: the same)."""
        return self.spread_int8 / self.spread_float if self.spread_float > 0 else float("inf")

    @property
    def kept(self) -> bool:
        """True when INT8 holds the accuracy on this product's held-out good parts."""
        return not self.reasons()

    def reasons(self) -> list[str]:
        """Why INT8 is not kept, in plain words (empty when it is)."""
        out = []
        if self.heldout < self.heldout_needed:
            out.append(f"only {self.heldout} good parts could be held back, and showing that INT8 keeps the "
                       f"accuracy needs {self.heldout_needed}")
        if not self.spread_ratio <= MAX_SPREAD_RATIO:
            out.append(f"with INT8 the good parts' scores spread {self.spread_ratio:.2f} times as wide as with "
                       f"float (at most {MAX_SPREAD_RATIO:g} allowed), so defects would pass more often")
        if not self.agreement >= MIN_AGREEMENT:
            out.append(f"INT8 ranks the held-out good parts differently from float (rank agreement "
                       f"{self.agreement:.2f}, at least {MIN_AGREEMENT:g} needed)")
        return out

    def text(self) -> str:
        """The outcome in one plain-words sentence, for the teach report and the validation panel."""
        if self.kept:
            return (f"INT8 keeps the accuracy on the {self.heldout} held-out good parts: their scores spread "
                    f"{self.spread_ratio:.2f} times as wide as with float, rank agreement {self.agreement:.2f}.")
        return "INT8 was asked for but taught with the float backbone: " + "; ".join(self.reasons()) + "."

    def as_extra(self) -> dict[str, float]:
        """The figures for the model's manifest."""
        return {"int8_check_heldout": float(self.heldout), "int8_check_needed": float(self.heldout_needed),
                "int8_check_spread_float": round(self.spread_float, 6),
                "int8_check_spread_int8": round(self.spread_int8, 6), "int8_check_agreement": round(self.agreement, 6),
                "int8_check_kept": 1.0 if self.kept else 0.0}

    @classmethod
    def from_extra(cls, extra: dict) -> Int8Check | None:
        """The check a manifest's figures record, or None for a model taught without one."""
        try:
            return cls(int(float(extra["int8_check_heldout"])), int(float(extra["int8_check_needed"])),
                       float(extra["int8_check_spread_float"]), float(extra["int8_check_spread_int8"]),
                       float(extra["int8_check_agreement"]))
        except (KeyError, TypeError, ValueError):
            return None


def relative_spread(scores: np.ndarray) -> float:
    """The good scores' fitted Gumbel scale over their median: how widely they scatter for their level."""
    _, scale = gumbel_fit(scores)
    median = float(np.median(scores))
    return scale / median if median > 0 else float("inf")


def rank_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equal-length score lists (ties take their mean rank)."""
    if len(a) < 3:
        return float("nan")
    ra, rb = mid_ranks(a), mid_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def compare(int8_scores: np.ndarray, float_scores: np.ndarray, heldout_needed: int) -> Int8Check:
    """The check for held-out good parts scored by the INT8 model and by its float twin (same parts, same order)."""
    q, f = np.asarray(int8_scores, np.float64), np.asarray(float_scores, np.float64)
    if q.shape != f.shape:
        raise ValueError("the INT8 and float scores must be of the same parts")
    return Int8Check(len(q), heldout_needed, relative_spread(f), relative_spread(q), rank_agreement(q, f))
