"""Teach an anomaly model from good parts alone, on the station: no PyTorch, no network (DESIGN.md, Models).

The taught images keep their aspect ratio: one scale factor brings their median shorter side to the teach
size (never enlarging), and larger images are cut into overlapping tiles (hmi.inference.geometry), exactly
as the station will judge them. The shipped EfficientNet-Lite0 backbone turns each image into two grids of
patch features, fine (stride 4 and 8) and coarse (stride 16); a greedy coreset of the good parts' patches of
each becomes a memory bank, each bank feature weighted by how densely the bank surrounds it; the scoring
graph (pre-processing, backbone, weighted nearest-bank distances, the coarse map added to the fine one at a
weight set from held-out parts, score) is written as one ONNX file; held-out good parts set the default
thresholds.
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

from hmi.config.schema import BACKBONES
from hmi.core.errors import ModelError, StationError
from hmi.core.image_files import MAX_IMAGE_PIXELS
from hmi.inference import scoring_graph as sg
from hmi.inference.backend import Session
from hmi.inference.geometry import Geometry, TiledSession, scale_for
from hmi.inference.package import (GeometrySpec, InputSpec, Manifest, ModelPackage, TrainingInfo, file_sha256,
                                   write_manifest)
from hmi.inference.teach_coreset import greedy_coreset
from hmi.inference.teach_images import PartImages, read_part_images
from hmi.inference.teach_int8 import Int8Check, compare
from hmi.inference.teach_thresholds import (DEFAULT_FALSE_REJECT, DEFAULT_HOLD_SHARE, calibrate, heldout_needed,
                                            more_images_text)

MIN_IMAGES = 10
MIN_HELDOUT = 4
# Sets up to this many images are cross-checked: every image is held out once (see _folds).
CROSS_CHECK_UP_TO = 150
# Floor on the memory bank, for small teach sets: with 16 images of the demo product at 384 px a 1 % bank
# (368 features) gave image AUROC 0.989, a 1000-feature bank 0.996, and 3000 features no more than that.
MIN_BANK = 1000
# Ceiling on the memory bank: the nearest-neighbour search costs time in proportion to it on every part.
MAX_BANK = 8192
# Patches offered to the greedy coreset at most (a seeded random sample beyond that), so teaching time grows
# with the number of images, not with images x bank size.
MAX_CORESET_INPUT = 200_000
DEFAULT_TILE = 512
# Tile overlap: the least that judges a flaw on a tile border as one inside a tile and leaves good parts'
# scores as they were (measured at 0, 16, 32, 48, 64 pixels: none raised good scores next to tile edges;
# docs/performance.md). 32 keeps every judged cell two cells from an inner tile edge.
DEFAULT_OVERLAP = 32
METHOD = "patchcore-tiled-density"
# Weight of the stride-16 map beside the fine map, each measured by its median peak on held-out good parts.
# Measured on the development sets (docs/models.md): 0.25 ranked every set at least as well as the fine map
# alone and caught the demo's missing material; 0.5 and more cost the casting set's pores.
COARSE_WEIGHT = 0.25

Progress = Callable[[str, float], None]

# Share of the whole run each stage takes, for the progress fraction (measured on 400 images at 256 px).
_STAGES = {"read": 0.08, "features": 0.25, "check": 0.35, "build": 0.31, "save": 0.01}


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
    more_images_needed: int = 0
    coarse_bank_size: int = 0
    false_reject: float = DEFAULT_FALSE_REJECT
    hold_share: float = DEFAULT_HOLD_SHARE
    backbone: str = "float"
    int8_check: Int8Check | None = None  # the held-out comparison, when INT8 was asked for

    def summary(self) -> str:
        """Plain-words account of the run, as the CLI prints it."""
        held = ("each of them was first judged by a bank of the others" if self.heldout >= self.images_used else
                f"{self.heldout} were first judged by a bank of the other {self.images_used - self.heldout}")
        lines = [
            f"Taught model '{self.model_dir.name}' from {self.images_used} good images in {self.seconds:.1f} s: "
            f"{held} to set the threshold; the memory bank then took all of them.",
            f"Memory bank: {self.bank_size} patch features"
            + (f" and {self.coarse_bank_size} stride-16 features" if self.coarse_bank_size else "")
            + (", from the INT8 backbone calibrated on these images." if self.backbone == "int8" else "."),
            *self._int8_lines(),
            f"Default threshold {self.threshold:.3f} (to reject at most {100 * self.false_reject:g} % of good parts); "
            f"parts scoring {self.threshold - self.hold_below:.3f} to {self.threshold + self.hold_above:.3f} are "
            f"held for review (at most {100 * self.hold_share:g} % of good parts).",
        ]
        if self.heldout_scores:
            low, high = min(self.heldout_scores), max(self.heldout_scores)
            lines.append(f"Held-out good parts scored {low:.3f} to {high:.3f}.")
        if self.more_images_needed > 0:
            lines.append(more_images_text(self.heldout, self.more_images_needed))
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} file(s):")
            lines.extend(f"  {path.name}: {reason}" for path, reason in self.skipped)
        lines.append(f"Saved to {self.model_dir} (model SHA-256 {self.sha256}).")
        return "\n".join(lines)

    def _int8_lines(self) -> list[str]:
        return [] if self.int8_check is None else [self.int8_check.text()]


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

    def rewind(self, stage: str) -> None:
        """Go back to the start of `stage` (the stages after it run again)."""
        names = list(_STAGES)
        self._done = sum(_STAGES[name] for name in names[:names.index(stage)])


def _check_targets(false_reject: float, hold_share: float) -> None:
    if not 0.0 < false_reject < 0.5:
        raise ModelError(f"false-reject target {false_reject} is not between 0 and 0.5",
                         "use 0.01: the default threshold then rejects at most 1 % of good parts")
    if not 0.0 <= hold_share < 0.5:
        raise ModelError(f"hold share {hold_share} is not between 0 and 0.5",
                         "use 0.05: at most 5 % of good parts are then held for review")


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


def _folds(n: int, holdout: float, seed: int, need: int = MIN_HELDOUT) -> list[np.ndarray]:
    """Seeded groups of held-out images, each judged by a bank of all the other images.

    Up to CROSS_CHECK_UP_TO images, every image is held out once (round(1 / holdout) groups): a small set
    then gives as many unseen good scores as it has images. Beyond that one group is enough, and saves the
    time of more banks: `holdout` of the images, or `need` (what a reliable threshold needs) if that is more,
    never more than half of them.
    """
    order = np.random.default_rng(seed).permutation(n)
    if n <= CROSS_CHECK_UP_TO:
        k = max(2, min(round(1.0 / holdout), n // MIN_HELDOUT))
        return [np.sort(part) for part in np.array_split(order, k)]
    n_held = min(max(MIN_HELDOUT, need, round(holdout * n)), n // 2)
    return [np.sort(order[:n_held])]


def augmented(image: np.ndarray) -> list[np.ndarray]:
    """The image and its turned (90, 180, 270 degrees) and mirrored views, for parts that arrive turned."""
    views = [image] + [np.ascontiguousarray(np.rot90(image, k)) for k in (1, 2, 3)]
    return views + [np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(image[::-1])]


@dataclass
class _Patches:
    """Patch features of the taught images, [patches, channels], and the index of the image each came from."""

    feats: np.ndarray
    owner: np.ndarray

    def without(self, images: np.ndarray) -> np.ndarray:
        """The features of every image but these."""
        return self.feats[~np.isin(self.owner, images)]


def _features(features: TiledSession, images: list[np.ndarray], augment: bool, fine_channels: int,
              tracker: _Tracker, span: tuple[float, float] = (0.0, 1.0)) -> tuple[_Patches, _Patches]:
    """Fine and coarse (stride-16) patch features of all images, and of their turned views with `augment`."""
    lo, hi = span
    fine: list[np.ndarray] = []
    coarse: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    owner16: list[np.ndarray] = []
    for i, image in enumerate(images):
        tracker.report("features", f"Extracting features {i}/{len(images)}", lo + (hi - lo) * i / len(images))
        for view in (augmented(image) if augment else [image]):
            f = features(view)
            fine.append(f[..., :fine_channels].reshape(-1, fine_channels))
            # Each stride-16 feature fills its 2x2 stride-8 cells: every second cell gives them once.
            coarse.append(f[::2, ::2, fine_channels:].reshape(-1, f.shape[-1] - fine_channels))
            owner.append(np.full(len(fine[-1]), i, np.int32))
            owner16.append(np.full(len(coarse[-1]), i, np.int32))
    return (_Patches(np.concatenate(fine).astype(np.float32, copy=False), np.concatenate(owner)),
            _Patches(np.ascontiguousarray(np.concatenate(coarse), np.float32), np.concatenate(owner16)))


def coarse_factor(fine_peaks: np.ndarray, coarse_peaks: np.ndarray, weight: float = COARSE_WEIGHT) -> float:
    """Factor the coarse map is added with: `weight` of the fine map, both measured by their median peak on
    held-out good parts (so the weight means the same for every product)."""
    fine_ref, coarse_ref = float(np.median(fine_peaks)), float(np.median(coarse_peaks))
    if not (math.isfinite(fine_ref) and math.isfinite(coarse_ref)) or coarse_ref <= 0.0:
        return 0.0
    return weight * fine_ref / coarse_ref


def _memory_bank(feats: np.ndarray, coreset_ratio: float, seed: int, tracker: _Tracker, stage: str,
                 text: str, span: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Greedy-coreset memory bank of `feats` (a seeded sample of MAX_CORESET_INPUT offered at most), and the
    rows of `feats` it took."""
    patches = len(feats)
    size = bank_size_for(patches, coreset_ratio)
    offered = np.arange(patches)
    if patches > MAX_CORESET_INPUT:
        offered = np.sort(np.random.default_rng(seed).choice(patches, MAX_CORESET_INPUT, replace=False))
    text = f"{text}: {size} features from {patches}"
    lo, hi = span
    tracker.report(stage, text, lo)
    picks = greedy_coreset(feats if len(offered) == patches else feats[offered], size, seed=seed,
                           tick=lambda f: tracker.report(stage, text, lo + (hi - lo) * f))
    rows = offered[picks]
    return np.ascontiguousarray(feats[rows]), rows


def _part_maps(scorer: TiledSession, images: list[np.ndarray], tracker: _Tracker,
               span: tuple[float, float] = (0.0, 1.0)) -> list[np.ndarray]:
    """Fine and coarse maps [h, w, 2] of held-out parts, tiled as the station runs them; progress in `span`."""
    maps = []
    lo, hi = span
    for i, image in enumerate(images):
        tracker.report("check", f"Scoring held-out good parts {i}/{len(images)}", lo + (hi - lo) * i / len(images))
        maps.append(scorer(image))
    return maps


def _more_images_needed(images: int, heldout: int, false_reject: float) -> int:
    """Good images to add so that enough are held back for a reliable default threshold at `false_reject`."""
    need = heldout_needed(false_reject)
    if heldout >= need:
        return 0
    if images <= CROSS_CHECK_UP_TO:  # every image is held out once
        return need - images
    return max(1, 2 * need - images)  # at most half of them are held back


def bank_size_for(patches: int, coreset_ratio: float) -> int:
    """Memory-bank size: the coreset share of all patches, within [MIN_BANK, MAX_BANK] (or all of them)."""
    return min(patches, MAX_BANK, max(math.ceil(coreset_ratio * patches), MIN_BANK))


def teach(good_images: Sequence[Path], out_dir: Path, *, name: str, input_size: int = 256,
          coreset_ratio: float = 0.01, holdout: float = 0.2, seed: int = 0,
          progress: Progress | None = None, cancel: threading.Event | None = None,
          provider: str = "cpu", threads: int = 0, bank_search: str = "clusters", augment: bool = False,
          tile: int = DEFAULT_TILE, backbone: str = "float",
          false_reject: float = DEFAULT_FALSE_REJECT, hold_share: float = DEFAULT_HOLD_SHARE,
          max_pixels: int = MAX_IMAGE_PIXELS) -> TeachReport:
    """Build an anomaly model package in `out_dir` from good-part images; see the module docstring.

    `input_size` is the teach size: the images' median shorter side is scaled to it (never enlarged), and
    the line's frames are scaled by the same factor. `backbone` is the backbone's precision: "float", or "int8"
    quantised and calibrated on these images (hmi.inference.quantize). Held-out parts are scored with the
    memory-bank search `bank_search` (backend.Session), as the line scores its parts. `augment` adds turned and mirrored views of
    every taught image to the memory bank, for parts that arrive in any orientation. `false_reject` and `hold_share` are
    the targets of the default thresholds (teach_thresholds.calibrate): the share of good parts rejected and
    held for review at most. `max_pixels` is the pixel limit of image files (`[camera] max_image_megapixels`).

    Unreadable files (pipes and other special files, files over the pixel limit) are skipped and listed in the
    report. The package is assembled in a hidden folder beside
    `out_dir` and renamed into place only when complete and verified, so a cancelled (TeachCancelled) or failed
    run leaves nothing behind. `progress(text, fraction)` is called many times a second while work goes on.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _check_arguments(name, out_dir, input_size, coreset_ratio, holdout)
    if backbone not in BACKBONES:
        raise ModelError(f"unknown backbone precision {backbone!r}", f"use one of {', '.join(BACKBONES)}")
    _check_targets(false_reject, hold_share)
    tracker = _Tracker(progress, cancel)
    tracker.report("read", "Reading images", 0.0)
    images = read_part_images(good_images,
                              lambda i, n: tracker.report("read", f"Reading images {i}/{n}", i / max(n, 1)),
                              limit=max_pixels)
    tracker.finish("read")
    if len(images.paths) < MIN_IMAGES:
        raise ModelError(f"only {len(images.paths)} usable good image(s) were found"
                         + (f" ({len(images.skipped)} could not be used)" if images.skipped else ""),
                         f"teaching needs at least {MIN_IMAGES} good images; 100 or more give a reliable threshold")
    folds = _folds(len(images.paths), holdout, seed, heldout_needed(false_reject))
    # Teaching runs each graph only briefly: building TensorRT engines for them would cost more than it saves.
    provider = "cuda" if provider in ("auto", "tensorrt") else provider
    scale = scale_for([min(img.shape[:2]) for img in images.images], input_size)
    geometry = Geometry(scale=scale, tile=max(tile, 2 * DEFAULT_OVERLAP + 16), overlap=DEFAULT_OVERLAP)

    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.teaching-", dir=out_dir.parent))
    except OSError as exc:
        raise ModelError(f"cannot write the new model in {out_dir.parent} ({exc.strerror or exc})",
                         "choose a folder on a writable disk with free space") from None
    try:
        report = _build(images, folds, staging, out_dir, name=name, teach_size=input_size,
                        geometry=geometry, coreset_ratio=coreset_ratio, seed=seed, tracker=tracker,
                        provider=provider, threads=threads, bank_search=bank_search, started=started,
                        augment=augment, targets=(false_reject, hold_share), precision=backbone)
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


@dataclass
class _Taught:
    """The taught images' patch features by one backbone."""

    backbone: onnx.ModelProto
    fine: _Patches
    coarse: _Patches


def _extract(backbone: onnx.ModelProto, images: PartImages, staging: Path, geometry: Geometry, provider: str,
             threads: int, augment: bool, tracker: _Tracker, span: tuple[float, float]) -> _Taught:
    """Every taught image's patch features by `backbone`, tiled as the line will run it."""
    features_file = staging / "features.onnx"
    fgraph, _ = sg.feature_map_graph(backbone)
    onnx.save(fgraph, str(features_file))
    extractor = TiledSession(Session(features_file, provider=provider, threads=threads), geometry,
                             sg.IMAGE_INPUT, sg.FEATURES_OUTPUT)
    fine, coarse = _features(extractor, images.images, augment, sg.fine_channels(backbone), tracker, span)
    del extractor
    features_file.unlink()
    return _Taught(backbone, fine, coarse)


def _heldout_maps(taught: _Taught, bank: np.ndarray, bank16: np.ndarray, images: list[np.ndarray],
                  staging: Path, geometry: Geometry, provider: str, threads: int, bank_search: str,
                  tracker: _Tracker, span: tuple[float, float]) -> list[np.ndarray]:
    """Fine and coarse maps of held-out `images` judged by `taught`'s backbone with these banks."""
    check_file = staging / "check.onnx"
    onnx.save(sg.tiled_scoring_graph(taught.backbone, bank, sg.density_weights(bank),
                                     coarse=sg.CoarseBank(bank16, sg.density_weights(bank16), 0.0), parts=True),
              str(check_file))
    check = Session(check_file, provider=provider, threads=threads, bank_search=bank_search)
    maps = _part_maps(TiledSession(check, geometry, sg.IMAGE_INPUT, sg.PARTS_OUTPUT), images, tracker, span)
    del check
    check_file.unlink()
    return maps


def _scores(held_maps: list[np.ndarray]) -> tuple[float, np.ndarray]:
    """The coarse map's factor and the held-out parts' scores, from their fine and coarse maps."""
    factor = coarse_factor(np.array([m[..., 0].max() for m in held_maps]),
                           np.array([m[..., 1].max() for m in held_maps]))
    scores = np.array([(m[..., 0] + factor * m[..., 1]).max() for m in held_maps], np.float64)
    if not np.all(np.isfinite(scores)):
        raise ModelError("the new model gave invalid scores on good parts", "teach again; if it repeats, report it")
    return factor, scores


def _build(images: PartImages, folds: list[np.ndarray], staging: Path, out_dir: Path, *,
           name: str, teach_size: int, geometry: Geometry, coreset_ratio: float, seed: int, tracker: _Tracker,
           provider: str, threads: int, bank_search: str, started: float, augment: bool,
           targets: tuple[float, float], precision: str, float_taught: _Taught | None = None,
           int8_check: Int8Check | None = None) -> TeachReport:
    """Features, bank, scoring graph, calibration and manifest, all written into `staging`.

    With `precision` "int8" the float features are extracted too, and the held-out parts scored by both
    (teach_int8); where INT8 does not keep the accuracy, the float model is built from them instead."""
    backbone_file = sg.backbone_path()
    extracting = float_taught is None
    half = 0.5 if precision == "int8" else 1.0
    if float_taught is None:
        float_taught = _extract(sg.load_backbone(backbone_file), images, staging, geometry, provider, threads,
                                augment, tracker, (0.0, half))
    taught, twin = float_taught, None
    if precision == "int8":  # ONNX Runtime's quantisation tools, loaded only to teach with them
        from hmi.inference.quantize import calibration_tiles, quantize_backbone

        tracker.report("features", "Calibrating the INT8 backbone", half)
        int8 = quantize_backbone(float_taught.backbone, calibration_tiles(images.images, geometry))
        taught = _extract(int8, images, staging, geometry, provider, threads, augment, tracker, (half, 1.0))
        twin = float_taught
    if extracting:
        tracker.finish("features")

    # Held-out parts are scored by banks built without them, as new parts will be; the model then keeps
    # the banks of all parts, so no good image is wasted (its good scores can only be lower).
    held_idx = np.concatenate(folds)
    held_maps: list[np.ndarray] = []
    twin_maps: list[np.ndarray] = []
    for k, fold in enumerate(folds):
        first, mid, last = k / len(folds), (k + 0.8) / len(folds), (k + 1) / len(folds)
        text = f"Choosing checking banks {k + 1} of {len(folds)}"
        bank_k, rows = _memory_bank(taught.fine.without(fold), coreset_ratio, seed, tracker, "check", text,
                                    (first, (3 * first + mid) / 4))
        bank16_k, rows16 = _memory_bank(taught.coarse.without(fold), coreset_ratio, seed, tracker, "check", text,
                                        ((3 * first + mid) / 4, mid))
        held = [images.images[i] for i in fold]
        scoring = (staging, geometry, provider, threads, bank_search, tracker)
        if twin is None:
            held_maps += _heldout_maps(taught, bank_k, bank16_k, held, *scoring, (mid, last))
        else:  # the float twin's banks hold the float features of the patches INT8 chose
            held_maps += _heldout_maps(taught, bank_k, bank16_k, held, *scoring, (mid, (mid + last) / 2))
            twin_maps += _heldout_maps(twin, twin.fine.without(fold)[rows], twin.coarse.without(fold)[rows16],
                                       held, *scoring, ((mid + last) / 2, last))
    factor, held_scores = _scores(held_maps)
    if twin is not None:
        int8_check = compare(held_scores, _scores(twin_maps)[1], heldout_needed(targets[0]))
        if not int8_check.kept:
            tracker.rewind("check")
            tracker.report("check", "INT8 does not keep this product's accuracy: teaching with the float backbone", 0.0)
            return _build(images, folds, staging, out_dir, name=name, teach_size=teach_size, geometry=geometry,
                          coreset_ratio=coreset_ratio, seed=seed, tracker=tracker, provider=provider,
                          threads=threads, bank_search=bank_search, started=started, augment=augment,
                          targets=targets, precision="float", float_taught=twin, int8_check=int8_check)
    cal = calibrate(held_scores, *targets)
    more = _more_images_needed(len(images.paths), len(held_idx), targets[0])
    tracker.finish("check")

    fine, coarse, backbone = taught.fine, taught.coarse, taught.backbone
    del taught, twin, float_taught
    patches = len(fine.feats)
    bank, _ = _memory_bank(fine.feats, coreset_ratio, seed, tracker, "build", "Choosing the memory bank", (0.0, 0.8))
    bank16, _ = _memory_bank(coarse.feats, coreset_ratio, seed, tracker, "build", "Choosing the stride-16 bank",
                             (0.8, 1.0))
    del fine, coarse
    model_file = staging / "model.onnx"
    onnx.save(sg.tiled_scoring_graph(backbone, bank, sg.density_weights(bank),
                                     coarse=sg.CoarseBank(bank16, sg.density_weights(bank16), factor)),
              str(model_file))
    tracker.finish("build")

    tracker.report("save", "Saving the model", 0.0)
    sha = file_sha256(model_file)
    seconds = round(time.perf_counter() - started, 2)
    manifest = Manifest(
        name=name, kind="anomaly", onnx=model_file.name, sha256=sha,
        input=InputSpec(width=geometry.tile, height=geometry.tile, channels=3, layout="NHWC", dtype="uint8",
                        color="RGB"),
        outputs={"score": sg.SCORE_OUTPUT, "anomaly_map": sg.MAP_OUTPUT},
        region_threshold=cal.region_threshold, thresholds=cal.thresholds,
        geometry=GeometrySpec(scale=round(geometry.scale, 6), tile=geometry.tile, overlap=geometry.overlap,
                              teach_size=teach_size),
        training=TrainingInfo(
            images=len(images.paths), heldout_images=len(held_idx), data_sha256=images.data_sha256,
            date=datetime.now(timezone.utc).isoformat(timespec="seconds"), method=METHOD,
            backbone=sg.BACKBONE_NAME, bank_size=len(bank), seconds=seconds,
            heldout_scores=[round(float(s), 6) for s in held_scores]),
        extra={"backbone_sha256": file_sha256(backbone_file), "patch_stride": float(sg.PATCH_STRIDE),
               "blur_sigma": float(sg.TILED_BLUR_SIGMA), "score": "max of the density-weighted anomaly_map",
               "coarse_bank_size": float(len(bank16)), "coarse_factor": round(factor, 6),
               "coreset_ratio": float(coreset_ratio), "seed": float(seed), "augment": "on" if augment else "off",
               "backbone_precision": precision,
               "patches_taught": float(patches),
               "heldout_mean": round(cal.mean, 6), "heldout_spread": round(cal.spread, 6),
               "false_reject_target": targets[0], "hold_share_target": targets[1],
               "more_images_needed": float(more), **(int8_check.as_extra() if int8_check else {})})
    write_manifest(staging, manifest)
    ModelPackage.load(staging, expect_sha256=sha)  # the package must pass the same check the station makes
    tracker.finish("save")
    return TeachReport(
        images_used=len(images.paths), heldout=len(held_idx), skipped=list(images.skipped), bank_size=len(bank),
        coarse_bank_size=len(bank16), threshold=cal.thresholds.score, hold_below=cal.thresholds.hold_below,
        hold_above=cal.thresholds.hold_above,
        seconds=seconds, model_dir=out_dir, sha256=sha, region_threshold=cal.region_threshold,
        heldout_scores=[float(s) for s in held_scores], more_images_needed=more,
        false_reject=targets[0], hold_share=targets[1], backbone=precision, int8_check=int8_check)
