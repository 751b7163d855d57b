"""Teach an anomaly model from good parts alone, on the station: no PyTorch, no network (DESIGN.md, Models).

The shipped EfficientNet-Lite0 backbone turns each image into a grid of patch features; a greedy coreset of
the good parts' patches becomes the memory bank; the scoring graph (pre-processing, backbone, nearest-bank
distance, map and score) is written as one ONNX file; held-out good parts set the default thresholds.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import onnx

from hmi.core.errors import ModelError, StationError
from hmi.inference import scoring_graph as sg
from hmi.inference.backend import Session
from hmi.inference.package import (InputSpec, Manifest, ModelPackage, TrainingInfo, file_sha256,
                                   write_manifest)
from hmi.inference.teach_coreset import greedy_coreset
from hmi.inference.teach_images import GoodImages, read_good_images
from hmi.inference.teach_thresholds import calibrate

MIN_IMAGES = 10
MIN_HELDOUT = 2
# Floor on the memory bank, for small teach sets: with 16 images of the demo product at 384 px a 1 % bank
# (368 features) gave image AUROC 0.989, a 1000-feature bank 0.996, and 3000 features no more than that.
MIN_BANK = 1000
FEATURE_BATCH = 8
SCORE_BATCH = 4
METHOD = "patchcore-greedy-coreset"

Progress = Callable[[str, float], None]

# Share of the whole run each stage takes, for the progress fraction (measured on 400 images at 256 px).
_STAGES = {"read": 0.08, "features": 0.30, "coreset": 0.48, "build": 0.02, "check": 0.11, "save": 0.01}


class TeachCancelled(StationError):
    """Teaching was stopped by the user; nothing was written."""


@dataclass(frozen=True)
class TeachReport:
    """What a teach run did, for the technician and the audit trail."""

    images_used: int
    heldout: int
    skipped: list[tuple[Path, str]]
    bank_size: int
    threshold: float
    hold_below: float
    hold_above: float
    seconds: float
    model_dir: Path
    sha256: str
    region_threshold: float = 0.0
    heldout_scores: list[float] = field(default_factory=list)

    def summary(self) -> str:
        """Plain-words account of the run, as the CLI prints it."""
        taught = self.images_used - self.heldout
        lines = [
            f"Taught model '{self.model_dir.name}' from {self.images_used} good images in {self.seconds:.1f} s: "
            f"{taught} for the memory bank, {self.heldout} held back to set the threshold.",
            f"Memory bank: {self.bank_size} patch features.",
            f"Default threshold {self.threshold:.3f}; parts scoring {self.threshold - self.hold_below:.3f} to "
            f"{self.threshold + self.hold_above:.3f} are held for review.",
        ]
        if self.heldout_scores:
            low, high = min(self.heldout_scores), max(self.heldout_scores)
            lines.append(f"Held-out good parts scored {low:.3f} to {high:.3f}.")
        if self.heldout < 20:
            lines.append(f"Only {self.heldout} good parts were held back, so the threshold is a rough guess; "
                         "teach with 100 or more good images for a reliable one.")
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} file(s):")
            lines.extend(f"  {path.name}: {reason}" for path, reason in self.skipped)
        lines.append(f"Saved to {self.model_dir} (model SHA-256 {self.sha256}).")
        return "\n".join(lines)


class _Tracker:
    """Turns stage progress into overall fractions and checks for cancellation at every report."""

    def __init__(self, progress: Progress | None, cancel: threading.Event | None) -> None:
        self._progress = progress
        self._cancel = cancel
        self._done = 0.0

    def check(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise TeachCancelled("teaching was cancelled; no model was written",
                                 "start teaching again when ready")

    def report(self, stage: str, text: str, fraction: float) -> None:
        self.check()
        if self._progress is not None:
            self._progress(text, min(1.0, self._done + _STAGES[stage] * min(max(fraction, 0.0), 1.0)))

    def finish(self, stage: str) -> None:
        self._done += _STAGES[stage]


def _check_arguments(name: str, out_dir: Path, input_size: int, coreset_ratio: float, holdout: float) -> None:
    if not name.strip():
        raise ModelError("the model has no name", "give the new model a name")
    sg.check_input_size(input_size)
    if not 0.0 < coreset_ratio <= 1.0:
        raise ModelError(f"memory-bank share {coreset_ratio} is not between 0 and 1",
                         "use 0.01 (1 %) unless told otherwise")
    if not 0.0 < holdout < 1.0:
        raise ModelError(f"held-back share {holdout} is not between 0 and 1",
                         "use 0.2: a fifth of the good images set the threshold")
    if out_dir.exists():
        raise ModelError(f"a model folder {out_dir} already exists",
                         "choose another model name, or remove the old model first")


def _split(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split into (bank images, held-out images), at least MIN_HELDOUT held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_held = min(max(MIN_HELDOUT, round(holdout * n)), n - MIN_HELDOUT)
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def _features(session: Session, pixels: np.ndarray, grid: sg.PatchGrid, tracker: _Tracker) -> np.ndarray:
    """Patch features of all images, [images * patches, channels]."""
    out = np.empty((len(pixels) * grid.patches, grid.channels), np.float32)
    for start in range(0, len(pixels), FEATURE_BATCH):
        tracker.report("features", f"Extracting features {start}/{len(pixels)}", start / len(pixels))
        batch = pixels[start:start + FEATURE_BATCH]
        feats = session.run({sg.IMAGE_INPUT: batch}, [sg.FEATURES_OUTPUT])[sg.FEATURES_OUTPUT]
        out[start * grid.patches:(start + len(batch)) * grid.patches] = feats.reshape(-1, grid.channels)
    return out


def _scores(session: Session, pixels: np.ndarray, tracker: _Tracker) -> np.ndarray:
    """Image scores of the held-out parts, through the finished model."""
    scores = []
    for start in range(0, len(pixels), SCORE_BATCH):
        tracker.report("check", f"Scoring held-out good parts {start}/{len(pixels)}", start / len(pixels))
        out = session.run({sg.IMAGE_INPUT: pixels[start:start + SCORE_BATCH]}, [sg.SCORE_OUTPUT])
        scores.append(out[sg.SCORE_OUTPUT].reshape(-1))
    return np.concatenate(scores).astype(np.float64)


def bank_size_for(patches: int, coreset_ratio: float) -> int:
    """Memory-bank size: the coreset share of all patches, but never fewer than MIN_BANK (or all of them)."""
    return min(patches, max(math.ceil(coreset_ratio * patches), MIN_BANK))


def teach(good_images: Sequence[Path], out_dir: Path, *, name: str, input_size: int = 256,
          coreset_ratio: float = 0.01, holdout: float = 0.2, seed: int = 0,
          progress: Progress | None = None, cancel: threading.Event | None = None,
          provider: str = "cpu", threads: int = 0, ignore_border: int = 0) -> TeachReport:
    """Build an anomaly model package in `out_dir` from good-part images; see the module docstring.

    Unreadable files are skipped and listed in the report. The package is assembled in a hidden folder beside
    `out_dir` and renamed into place only when complete and verified, so a cancelled (TeachCancelled) or failed
    run leaves nothing behind. `progress(text, fraction)` is called many times a second while work goes on.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _check_arguments(name, out_dir, input_size, coreset_ratio, holdout)
    tracker = _Tracker(progress, cancel)
    tracker.report("read", "Reading images", 0.0)
    images = read_good_images(good_images, input_size,
                              lambda i, n: tracker.report("read", f"Reading images {i}/{n}", i / max(n, 1)))
    tracker.finish("read")
    if len(images.paths) < MIN_IMAGES:
        raise ModelError(f"only {len(images.paths)} usable good image(s) were found"
                         + (f" ({len(images.skipped)} could not be used)" if images.skipped else ""),
                         f"teaching needs at least {MIN_IMAGES} good images; 100 or more give a reliable threshold")
    bank_idx, held_idx = _split(len(images.paths), holdout, seed)
    # Teaching runs each graph only briefly: building TensorRT engines for them would cost more than it saves.
    provider = "cuda" if provider in ("auto", "tensorrt") else provider

    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.teaching-", dir=out_dir.parent))
    except OSError as exc:
        raise ModelError(f"cannot write the new model in {out_dir.parent} ({exc.strerror or exc})",
                         "choose a folder on a writable disk with free space") from None
    try:
        report = _build(images, bank_idx, held_idx, staging, out_dir, name=name, input_size=input_size,
                        coreset_ratio=coreset_ratio, seed=seed, tracker=tracker, provider=provider,
                        threads=threads, started=started, ignore_border=ignore_border)
        tracker.check()
        os.rename(staging, out_dir)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelError(f"the new model could not be written to {out_dir} ({exc.strerror or exc})",
                         "check that the disk has free space and the model folder does not exist yet") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if progress is not None:
        progress("Model saved", 1.0)
    return report


def _build(images: GoodImages, bank_idx: np.ndarray, held_idx: np.ndarray, staging: Path, out_dir: Path, *, name: str,
           input_size: int, coreset_ratio: float, seed: int, tracker: _Tracker, provider: str, threads: int,
           started: float, ignore_border: int = 0) -> TeachReport:
    """Features, bank, scoring graph, calibration and manifest, all written into `staging`."""
    backbone_file = sg.backbone_path()
    backbone = sg.load_backbone(backbone_file)
    features_file = staging / "features.onnx"
    fgraph, grid = sg.feature_graph(backbone, input_size)
    onnx.save(fgraph, str(features_file))
    extractor = Session(features_file, provider=provider, threads=threads)
    feats = _features(extractor, images.pixels[bank_idx], grid, tracker)
    del extractor
    features_file.unlink()
    tracker.finish("features")

    size = bank_size_for(len(feats), coreset_ratio)
    choosing = f"Choosing {size} memory-bank features from {len(feats)}"
    tracker.report("coreset", choosing, 0.0)
    picks = greedy_coreset(feats, size, seed=seed, tick=lambda f: tracker.report("coreset", choosing, f))
    bank = feats[picks]
    del feats
    tracker.finish("coreset")

    tracker.report("build", "Writing the scoring model", 0.0)
    model_file = staging / "model.onnx"
    onnx.save(sg.scoring_graph(backbone, input_size, bank, ignore_border=ignore_border), str(model_file))
    tracker.finish("build")

    scorer = Session(model_file, provider=provider, threads=threads)
    held_scores = _scores(scorer, images.pixels[held_idx], tracker)
    del scorer
    if not np.all(np.isfinite(held_scores)):
        raise ModelError("the new model gave invalid scores on good parts", "teach again; if it repeats, report it")
    cal = calibrate(held_scores)
    tracker.finish("check")

    tracker.report("save", "Saving the model", 0.0)
    sha = file_sha256(model_file)
    seconds = round(time.perf_counter() - started, 2)
    manifest = Manifest(
        name=name, kind="anomaly", onnx=model_file.name, sha256=sha,
        input=InputSpec(width=input_size, height=input_size, channels=3, layout="NHWC", dtype="uint8", color="RGB"),
        outputs={"score": sg.SCORE_OUTPUT, "anomaly_map": sg.MAP_OUTPUT},
        region_threshold=cal.region_threshold, thresholds=cal.thresholds,
        training=TrainingInfo(
            images=len(images.paths), heldout_images=len(held_idx), data_sha256=images.data_sha256,
            date=datetime.now(timezone.utc).isoformat(timespec="seconds"), method=METHOD,
            backbone=sg.BACKBONE_NAME, bank_size=len(bank), seconds=seconds,
            heldout_scores=[round(float(s), 6) for s in held_scores]),
        extra={"backbone_sha256": file_sha256(backbone_file), "patch_stride": float(sg.PATCH_STRIDE),
               "blur_sigma": float(sg.DEFAULT_BLUR_SIGMA), "score": "max of anomaly_map",
               "coreset_ratio": float(coreset_ratio), "seed": float(seed),
               "ignore_border_patches": float(ignore_border),
               "heldout_mean": round(cal.mean, 6), "heldout_spread": round(cal.spread, 6)})
    write_manifest(staging, manifest)
    ModelPackage.load(staging, expect_sha256=sha)  # the package must pass the same check the station makes
    tracker.finish("save")
    return TeachReport(
        images_used=len(images.paths), heldout=len(held_idx), skipped=list(images.skipped), bank_size=len(bank),
        threshold=cal.thresholds.score, hold_below=cal.thresholds.hold_below, hold_above=cal.thresholds.hold_above,
        seconds=seconds, model_dir=out_dir, sha256=sha, region_threshold=cal.region_threshold,
        heldout_scores=[float(s) for s in held_scores])
