"""Compare the station's regions with an exporter's own predictions (tests/fixtures/exports/*/predictions.json).

Same regions means: every exporter box of a defect class has one station region of the same class with box
IoU >= 0.9 and confidence within 0.005 (segmentation: mask area within 2 %), and the station has no other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exports"
MIN_IOU, MAX_DCONF, MAX_DAREA = 0.9, 0.005, 0.02


def fixture_kinds() -> list[str]:
    """The export kinds with a committed fixture and predictions."""
    return sorted(p.parent.name for p in FIXTURES.glob("*/predictions.json"))


def predictions(kind: str) -> dict:
    """The exporter's stored predictions for `kind`."""
    return json.loads((FIXTURES / kind / "predictions.json").read_text(encoding="utf-8"))


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two (x1, y1, x2, y2) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Agreement:
    """How one kind's station regions compare with the exporter's over the images."""

    images: int = 0
    boxes: int = 0
    matched: int = 0
    missing: int = 0
    extra: int = 0
    worst_iou: float = 1.0
    worst_dconf: float = 0.0
    worst_darea: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """True when every region agrees."""
        return not self.problems and self.matched == self.boxes


def compare_regions(agreement: Agreement, index: int, ours: list[dict], theirs: dict, names: list[str],
                    floors: dict[str, float]) -> None:
    """Add one image's comparison: `ours` are CSV-style region dicts (x, y, w, h, area_px, label, confidence)."""
    agreement.images += 1
    boxes = [b for b in theirs["boxes"] if names[b[5]] in floors and b[4] >= floors[names[b[5]]]]
    areas = theirs.get("mask_areas")
    left = list(ours)
    for j, b in enumerate(theirs["boxes"]):
        if b not in boxes:
            continue
        agreement.boxes += 1
        label = names[b[5]]
        scored = [(iou(tuple(b[:4]), (r["x"], r["y"], r["x"] + r["w"], r["y"] + r["h"])), r) for r in left
                  if r["label"] == label]
        best = max(scored, key=lambda t: t[0], default=None)
        if best is None or best[0] < MIN_IOU:
            agreement.missing += 1
            agreement.problems.append(f"image {index}: no {label} region for box {b[:4]} conf {b[4]:.3f}"
                                      + (f" (best IoU {best[0]:.2f})" if best else ""))
            continue
        r = best[1]
        left.remove(r)
        dconf = abs(float(r["confidence"]) - b[4])
        darea = abs(r["area_px"] - areas[j]) / max(areas[j], 1) if areas is not None else 0.0
        agreement.worst_iou = min(agreement.worst_iou, best[0])
        agreement.worst_dconf = max(agreement.worst_dconf, dconf)
        agreement.worst_darea = max(agreement.worst_darea, darea)
        if dconf > MAX_DCONF or darea > MAX_DAREA:
            agreement.problems.append(f"image {index}: {label} conf {r['confidence']:.4f} vs {b[4]:.4f}, "
                                      f"area {r['area_px']} vs {areas[j] if areas else '-'}")
            continue
        agreement.matched += 1
    agreement.extra += len(left)
    agreement.problems += [f"image {index}: extra {r['label']} region at {r['x']},{r['y']} conf {r['confidence']}"
                           for r in left]


def compare_class(agreement: Agreement, index: int, score: float, label: str | None, theirs: dict,
                  names: list[str], defect: list[bool]) -> None:
    """Add one image's classifier comparison: the top defect-class probability and, above 0.5, its class."""
    agreement.images += 1
    agreement.boxes += 1
    probs = np.asarray(theirs["probs"])
    k = int(np.where(defect, probs, -1.0).argmax())
    dconf = abs(score - float(probs[k]))
    agreement.worst_dconf = max(agreement.worst_dconf, dconf)
    want = names[k] if probs[k] >= 0.5 else None
    if dconf > MAX_DCONF or label != want:
        agreement.missing += 1
        agreement.problems.append(f"image {index}: {label} {score:.4f} vs {want} {probs[k]:.4f}")
    else:
        agreement.matched += 1


def spearman(a: list[float], b: list[float]) -> float:
    """Rank correlation of two score lists (ties ranked by order)."""
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])
