"""Judge a model against ground truth: image AUROC and the share of good parts rejected."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from hmi.core.errors import StationError


def mid_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of the values of `x`, tied values sharing the mean of the ranks they span."""
    _, inverse, counts = np.unique(np.asarray(x, np.float64).ravel(), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def auroc(scores_good: np.ndarray, scores_bad: np.ndarray) -> float:
    """Area under the ROC curve: the chance a defective part scores above a good one (ties count half)."""
    g = np.asarray(scores_good, np.float64).ravel()
    b = np.asarray(scores_bad, np.float64).ravel()
    if g.size == 0 or b.size == 0:
        raise ValueError("AUROC needs good and defective parts")
    rank_sum_bad = mid_ranks(np.concatenate([g, b]))[g.size:].sum()
    return float((rank_sum_bad - b.size * (b.size + 1) / 2.0) / (g.size * b.size))


def recall_at(scores_good: np.ndarray, scores_bad: np.ndarray, false_reject: float) -> float:
    """Share of defective parts caught when the threshold rejects at most `false_reject` of the good parts.

    The threshold is the lowest score that leaves no more than that share of good parts at or above it; with
    few good parts that may mean no good part at all (a conservative reading of the floor).
    """
    g = np.sort(np.asarray(scores_good, np.float64))[::-1]
    b = np.asarray(scores_bad, np.float64)
    allowed = int(np.floor(false_reject * g.size + 1e-9))  # good parts that may be rejected
    # Threshold just above the (allowed+1)-th highest good score: that good part and all below pass.
    limit = g[allowed] if allowed < g.size else -np.inf
    return float(np.mean(b > limit))


def escapes_floor(scores_good: np.ndarray, scores_bad: np.ndarray, false_reject: float, hold_share: float) -> float:
    """Least share of defective parts passed as OK by any thresholds that reject at most `false_reject` and
    hold at most `hold_share` of the good parts: what the set's own ranking allows at those targets.
    """
    g = np.sort(np.asarray(scores_good, np.float64))[::-1]
    b = np.asarray(scores_bad, np.float64)
    flagged = int(np.floor(false_reject * g.size + 1e-9)) + int(np.floor(hold_share * g.size + 1e-9))
    # The HOLD band starts just above the (flagged+1)-th highest good score: defects at or under it pass.
    return float(np.mean(b <= g[flagged])) if flagged < g.size else 0.0


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


@dataclass(frozen=True)
class DatasetEvaluation:
    """Figures of `hmi evaluate DATASET_DIR`: teach on train/good, judge test/good and test/defect."""

    dataset: str
    good: int
    defective: int
    auroc: float
    recall_at_1pct: float
    recall_at_5pct: float
    pixel_auroc: float | None
    good_ng_pct: float
    good_hold_pct: float
    defect_ok_pct: float
    defect_hold_pct: float
    teach_s: float
    judge_ms_p50: float
    judge_ms_p99: float
    threshold: float
    hold_low: float
    taught_images: int
    geometry: str
    floor_defect_ok_pct: float = 0.0         # escapes_floor at 1 % / 5 %: the best any thresholds could do here
    more_images_needed: int = 0              # good images teach asked for beyond those it was given
    heldout_scores: tuple[float, ...] = ()   # teach's held-out good scores, from which the defaults came
    good_scores: tuple[float, ...] = ()
    defect_scores: tuple[float, ...] = ()
    backbone: str = "float"                  # the precision taught: "int8" only where teach kept it (teach_int8)
    backbone_note: str = ""                  # teach's INT8 check, when INT8 was asked for (kept, or why not)

    def text(self) -> str:
        """Plain-words summary, one figure a line."""
        pix = "n/a (no masks)" if self.pixel_auroc is None else f"{self.pixel_auroc:.4f}"
        return "\n".join([
            f"{self.dataset}: taught on {self.taught_images} good images in {self.teach_s:.1f} s ({self.geometry}"
            f"{', INT8 backbone' if self.backbone == 'int8' else ''}); judged {self.good} good and {self.defective} "
            "defective",
            *([f"  {self.backbone_note}"] if self.backbone_note else []),
            f"  image AUROC {self.auroc:.4f}; pixel AUROC {pix}",
            f"  defects caught at 1 % / 5 % of good parts rejected: {100 * self.recall_at_1pct:.1f} % / "
            f"{100 * self.recall_at_5pct:.1f} %",
            f"  at the model's default thresholds (NG from {self.threshold:.3f}, HOLD from {self.hold_low:.3f}): "
            f"good parts NG {self.good_ng_pct:.1f} %, HOLD {self.good_hold_pct:.1f} %; "
            f"defective parts OK {self.defect_ok_pct:.1f} %, HOLD {self.defect_hold_pct:.1f} %",
            f"  the least share of defective parts passed as OK by any thresholds that reject at most 1 % and hold "
            f"at most 5 % of the good test parts: {self.floor_defect_ok_pct:.1f} %",
            *([f"  teach asked for {self.more_images_needed} more good images for a reliable threshold"]
              if self.more_images_needed else []),
            f"  judging: {self.judge_ms_p50:.1f} ms p50, {self.judge_ms_p99:.1f} ms p99 per image",
        ])

    def to_json(self) -> str:
        """The same figures as JSON."""
        import json
        from dataclasses import asdict

        return json.dumps(asdict(self), indent=2) + "\n"


def _images(folder: Path) -> list[Path]:
    exts = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"}
    return sorted(p for p in folder.glob("*") if p.is_file() and p.suffix.lower() in exts) if folder.is_dir() else []


def _mask_for(mask_dir: Path, image: Path) -> np.ndarray | None:
    """The defect mask (bool, image size) with the image's stem, if the set has one."""
    import cv2

    for p in (mask_dir / f"{image.stem}.png", *sorted(mask_dir.glob(f"{image.stem}.*"))):
        if p.is_file():
            m = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
            if m is not None:
                return m > 0
    return None


PIXEL_SIDE = 256  # maps and masks are compared at most this many pixels along the longer side


def _small(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(array.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def evaluate_dataset(dataset_dir: Path, work_dir: Path, *, teach_size: int = 256, augment: bool = False,
                     provider: str = "cpu", threads: int = 0, bank_search: str = "clusters", backbone: str = "float",
                     progress: Callable[[str], None] | None = None) -> DatasetEvaluation:
    """Teach on `train/good` with the station's teach, judge `test/*` with the station's inspection."""
    import time

    from hmi.decision.policy import ThresholdSet, decide
    from hmi.inference.inspector import Inspector, read_image
    from hmi.inference.package import ModelPackage
    from hmi.inference.teach import teach

    dataset_dir = Path(dataset_dir)
    train = _images(dataset_dir / "train" / "good")
    good, bad = _images(dataset_dir / "test" / "good"), _images(dataset_dir / "test" / "defect")
    if not train or not good or not bad:
        raise StationError(f"{dataset_dir} is not a data set in the expected layout",
                           "give a folder with train/good, test/good and test/defect (and optionally test/mask)")
    say = progress or (lambda text: None)
    model_dir = Path(work_dir) / f"model-{dataset_dir.name}"
    if model_dir.exists():
        import shutil

        shutil.rmtree(model_dir)
    say(f"teaching on {len(train)} good images of {dataset_dir.name}")
    t0 = time.perf_counter()
    report = teach(train, model_dir, name=dataset_dir.name, input_size=teach_size, augment=augment,
                   provider=provider, threads=threads, bank_search=bank_search, backbone=backbone)
    teach_s = time.perf_counter() - t0
    package = ModelPackage.load(model_dir)
    t = package.manifest.thresholds
    thresholds = ThresholdSet(0, t.score, t.hold_below, t.hold_above, t.min_defect_area_px)
    inspector = Inspector(package, provider=provider, threads=threads, bank_search=bank_search)
    inspector.warm_up(1)
    mask_dir = dataset_dir / "test" / "mask"
    scores: dict[str, list[float]] = {"good": [], "defect": []}
    verdicts: dict[str, list[str]] = {"good": [], "defect": []}
    pix_good: list[np.ndarray] = []
    pix_bad: list[np.ndarray] = []
    times: list[float] = []
    use_masks = mask_dir.is_dir()
    for label, paths in (("good", good), ("defect", bad)):
        say(f"judging {len(paths)} {label} images")
        for path in paths:
            frame = read_image(path)
            t1 = time.perf_counter()
            ins = inspector.inspect(frame)
            times.append((time.perf_counter() - t1) * 1000.0)
            verdict, _ = decide(ins, thresholds)
            scores[label].append(ins.score)
            verdicts[label].append(verdict.name)
            if use_masks and ins.anomaly_map is not None:
                h, w = frame.shape[:2]
                f = PIXEL_SIDE / max(h, w)
                small = (max(1, round(h * f)), max(1, round(w * f))) if f < 1 else (h, w)
                amap = _small(inspector.frame_map(ins, (h, w)), small)
                mask = _mask_for(mask_dir, path) if label == "defect" else np.zeros((h, w), bool)
                if mask is None:
                    continue
                mask = _small(mask.astype(np.float32), small) >= 0.5
                pix_bad.append(amap[mask])
                pix_good.append(amap[~mask])
    g, b = np.array(scores["good"]), np.array(scores["defect"])
    pixel = None
    if pix_bad and sum(a.size for a in pix_bad):
        pixel = auroc(np.concatenate(pix_good), np.concatenate(pix_bad))

    def pct(label: str, verdict: str) -> float:
        v = verdicts[label]
        return 100.0 * sum(x == verdict for x in v) / len(v)

    geo = package.manifest.geometry
    geometry = (f"scale {geo.scale:.3f}, tiles up to {geo.tile} px" if geo is not None else "resized to the input")
    return DatasetEvaluation(
        dataset=dataset_dir.name, good=len(g), defective=len(b), auroc=auroc(g, b),
        recall_at_1pct=recall_at(g, b, 0.01), recall_at_5pct=recall_at(g, b, 0.05), pixel_auroc=pixel,
        good_ng_pct=pct("good", "NG") + pct("good", "NOT_INSPECTED"), good_hold_pct=pct("good", "HOLD"),
        defect_ok_pct=pct("defect", "OK"), defect_hold_pct=pct("defect", "HOLD"), teach_s=teach_s,
        judge_ms_p50=float(np.percentile(times, 50)), judge_ms_p99=float(np.percentile(times, 99)),
        threshold=thresholds.ng_from, hold_low=thresholds.hold_low, taught_images=report.images_used,
        geometry=geometry, floor_defect_ok_pct=100.0 * escapes_floor(g, b, 0.01, 0.05),
        more_images_needed=report.more_images_needed, heldout_scores=tuple(round(s, 6) for s in report.heldout_scores),
        good_scores=tuple(round(float(s), 6) for s in g), defect_scores=tuple(round(float(s), 6) for s in b),
        backbone=report.backbone,
        backbone_note="" if report.int8_check is None else report.int8_check.text())
