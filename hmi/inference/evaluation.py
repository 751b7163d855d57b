"""Judge a model against ground truth: image AUROC and the share of good parts rejected."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmi.core.errors import StationError


def auroc(scores_good: np.ndarray, scores_bad: np.ndarray) -> float:
    """Area under the ROC curve: the chance a defective part scores above a good one (ties count half)."""
    g = np.asarray(scores_good, np.float64)
    b = np.asarray(scores_bad, np.float64)
    if g.size == 0 or b.size == 0:
        raise ValueError("AUROC needs good and defective parts")
    allv = np.concatenate([g, b])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty_like(order, dtype=np.float64)
    sorted_v = allv[order]
    # average ranks over ties
    i = 0
    while i < len(sorted_v):
        j = i
        while j + 1 < len(sorted_v) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    rank_sum_bad = ranks[g.size:].sum()
    return float((rank_sum_bad - b.size * (b.size + 1) / 2.0) / (g.size * b.size))


@dataclass(frozen=True)
class Evaluation:
    """Figures of one evaluation run."""

    good: int
    defective: int
    auroc: float
    good_rejected_pct: float   # good parts NG or NOT_INSPECTED at the default threshold
    good_held_pct: float       # good parts sent to review (HOLD)
    defects_passed_pct: float  # defective parts judged OK (escapes)

    def text(self) -> str:
        """Plain-words summary."""
        return (f"{self.good} good and {self.defective} defective images: image AUROC {self.auroc:.4f}; "
                f"good parts rejected {self.good_rejected_pct:.2f} %, held for review {self.good_held_pct:.2f} %; "
                f"defective parts passed as OK {self.defects_passed_pct:.2f} %")


def evaluate(results_csv: Path, truth_csv: Path) -> Evaluation:
    """Match `hmi inspect` rows to a ground-truth CSV (file,label[,defect_type]) by file name."""
    truth: dict[str, str] = {}
    with truth_csv.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            truth[Path(row["file"]).as_posix()] = row["label"]
    base = truth_csv.parent
    good_s, bad_s, good_v, bad_v = [], [], [], []
    with results_csv.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            p = Path(row["path"])
            try:
                key = p.resolve().relative_to(base.resolve()).as_posix()
            except ValueError:
                key = p.name
            label = truth.get(key)
            if label is None or not row["score"]:
                continue
            (good_s if label == "good" else bad_s).append(float(row["score"]))
            (good_v if label == "good" else bad_v).append(row["verdict"])
    if not good_s or not bad_s:
        raise StationError(f"no rows of {results_csv} match the files in {truth_csv}",
                           "run 'hmi inspect' on the folders that the ground truth lists")
    return Evaluation(len(good_s), len(bad_s), auroc(np.array(good_s), np.array(bad_s)),
                      100.0 * sum(v in ("NG", "NOT_INSPECTED") for v in good_v) / len(good_v),
                      100.0 * sum(v == "HOLD" for v in good_v) / len(good_v),
                      100.0 * sum(v == "OK" for v in bad_v) / len(bad_v))
