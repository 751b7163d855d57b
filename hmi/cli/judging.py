"""`hmi inspect`, `hmi teach` and `hmi evaluate`: judging images, teaching a model, measuring it on a data set."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hmi.cli.options import backbone_option, command, overrides
from hmi.core.errors import StationError

if TYPE_CHECKING:
    from hmi.config.schema import JudgingTargets, Recipe, StationConfig
    from hmi.core.part import Inspection, Part
    from hmi.inference.package import ModelPackage
    from hmi.inference.worker import JudgingSetup
    from hmi.station import Station


def register(sub: argparse._SubParsersAction) -> None:
    """Register `inspect`, `teach` and `evaluate`."""
    ins = command(sub, "inspect", cmd_inspect,
                  help="judge image files as the station judges parts (the recipe's model, inspection area and "
                       "thresholds, through the station's own capture and inference threads) and write a CSV")
    ins.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    ins.add_argument("--csv", type=Path, required=True, help="output CSV file: one row per image, in this order")
    ins.add_argument("--recipe", default=None,
                     help="judge with this recipe (default: the one in force, station.recipe)")
    ins.add_argument("--model", type=Path, default=None,
                     help="judge with this model folder (manifest.json + model.onnx) and its own default "
                          "thresholds instead of the recipe's model; the recipe's inspection area still applies")
    ins.add_argument("--maps", type=Path, default=None, metavar="DIR",
                     help="also write each image's anomaly map at the image's own size (float32 .npy per image, "
                          "in the images' folders under their common folder: good/a.png -> DIR/good/a.npy)")

    teach = command(sub, "teach", cmd_teach, help="build an anomaly model from images of good parts")
    teach.add_argument("--good", type=Path, required=True, help="folder of good-part images")
    teach.add_argument("--out", type=Path, required=True, help="model folder to create")
    teach.add_argument("--name", default="", help="model name (default: the folder name)")
    teach.add_argument("--input-size", type=int, default=256, metavar="PIXELS",
                       help="teach size: the images' shorter side is scaled to this (never enlarged); frames keep "
                            "their aspect ratio and larger ones are judged in tiles")
    teach.add_argument("--coreset", type=float, default=0.01, help="share of patch features kept in the memory bank")
    teach.add_argument("--augment", action="store_true",
                       help="also teach turned and mirrored views: for parts that arrive in any orientation")
    teach.add_argument("--false-reject", type=float, default=None, metavar="SHARE",
                       help="share of good parts the default threshold may reject (default: the recipe's, 0.01)")
    teach.add_argument("--hold-share", type=float, default=None, metavar="SHARE",
                       help="share of good parts the HOLD band may send to review (default: the recipe's, 0.05)")
    backbone_option(teach, "the backbone's precision: float, or int8 (quantised on these images: the backbone about "
                           "twice as fast on a CPU; kept only where the held-out good parts show that it holds the "
                           "accuracy, else float is taught and the report says why) (default: the recipe's [teach] "
                           "backbone with --recipe, else float)", default=None)
    teach.add_argument("--recipe", default=None,
                       help="take the targets and the backbone from this recipe (default: none, 1 %% / 5 %%, float)")

    ev = command(sub, "evaluate", cmd_evaluate, help="teach and judge a data set folder (train/good, test/good, test/defect): "
                                         "AUROC, recall, rates at the default thresholds; or score an inspect CSV")
    ev.add_argument("dataset", nargs="?", type=Path, default=None,
                    help="data set folder: train/good, test/good, test/defect, optional test/mask")
    ev.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    ev.add_argument("--work", type=Path, default=None, help="where the taught model is kept (default: a temporary folder)")
    ev.add_argument("--teach-size", type=int, default=256, help="teach size passed to the station's teach")
    ev.add_argument("--augment", action="store_true", help="teach with turned and mirrored views")
    ev.add_argument("--bank-search", choices=("clusters", "whole"), default="clusters",
                    help="the CPU's memory-bank search in teach and inspection (as [inference] bank_search)")
    backbone_option(ev, "the taught backbone's precision (as hmi teach --backbone)")
    ev.add_argument("--csv", type=Path, default=None, help="instead: a CSV written by 'hmi inspect' ...")
    ev.add_argument("--truth", type=Path, default=None, help="... and its ground_truth.csv (file,label)")


def _image_paths(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The image files given and found in the folders given (searched through), and what the folders held that
    is named like an image but is not a regular file (pipes, sockets, folders named *.png), with why."""
    from hmi.core.image_files import list_images

    out: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for p in paths:
        if p.is_dir():
            listing = list_images(p, recursive=True)
            out.extend(listing.files)
            skipped.extend(listing.skipped)
        else:
            out.append(p)  # named on the command line: judged, or NOT_INSPECTED with the reason in its place
    return out, skipped


def cmd_inspect(args: argparse.Namespace, folder: Path) -> int:
    """Judge image files through the station's own path; one CSV row per image, in the order given.

    The files are the camera (hmi.camera.replay.ImageFilesSource) of a station built as the line's
    (`build_station`, without records): the capture thread reads each file while the model judges the
    previous one, and the inference thread judges it with the recipe's model, inspection area,
    thresholds and engine cache (or, with --model, another package under its own default thresholds).
    The software trigger waits for the model (in-flight credits), so no file is skipped or dropped;
    a file that cannot be read is NOT_INSPECTED with the reason, at its place in the CSV.
    """
    import csv
    import queue

    from hmi.camera.replay import ImageFilesSource
    from hmi.config.loader import load_recipe, load_station
    from hmi.core.image_files import max_pixels
    from hmi.inference.package import ModelPackage
    from hmi.station import build_station

    paths, skipped = _image_paths(args.paths)
    for path, why in skipped:  # never opened: a pipe would block the reader
        print(f"hmi: skipped {path}: {why}", file=sys.stderr)
    # A file has no line takt: a large frame judged on a slow machine is late, not unjudged. Then the
    # station as the line runs it: every frame a part, each trigger waiting for a free place at the model.
    settings = ["pipeline.deadline_ms=600000", *overrides(args), "station.mode=production",
                "camera.trigger=software", "camera.rate_hz=0"]
    if args.recipe:
        settings.append(f"station.recipe={args.recipe}")
    cfg = load_station(folder, settings)
    # At most max_in_flight parts are between the camera and the verdict: room for all of them in the queue.
    cfg.pipeline.frame_queue = max(cfg.pipeline.frame_queue, cfg.pipeline.max_in_flight)
    recipe = load_recipe(folder, cfg.station.recipe)
    package = ModelPackage.load(args.model) if args.model is not None else None
    if not paths:
        raise StationError("no image files found in " + ", ".join(map(str, args.paths)), "check the paths")
    judging = _package_setup(package, cfg, folder, recipe) if package is not None else None
    maps_root = Path(os.path.commonpath([str(p.resolve().parent) for p in paths]))

    source = ImageFilesSource(paths, max_pixels=max_pixels(cfg.camera.max_image_megapixels))
    station = build_station(cfg, folder, source=source, max_parts=len(paths), records=False, judging=judging)
    setup = station.active.get()
    inspector = setup.inspector
    assert inspector is not None  # build_station raised ModelError otherwise
    judged: queue.SimpleQueue[_Judged] = queue.SimpleQueue()  # holds at most one small entry per file given
    # On the publishing threads: only hand the part's figures on (no image; its map only for --maps).
    station.outlet.subscribe(lambda part: judged.put(_Judged.of(part, keep_map=args.maps is not None)))
    counts: dict[str, int] = {}
    unreadable = unjudged = 0
    waiting: dict[int, _Judged] = {}  # decided out of order (an unreadable file is decided at capture)
    written = 0
    try:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with args.csv.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "score", "verdict", "reason", "regions", "latency_ms", "backend", "model_sha256",
                        "confidence", "infer_ms"])
            station.start()
            while written < len(paths):
                try:
                    part = judged.get(timeout=0.5)
                except queue.Empty:
                    _check_running(station)
                    continue
                index = part.seq - 1  # part n is the n-th file grabbed (ImageFilesSource): paths[n - 1]
                if not written <= index < len(paths) or index in waiting:
                    raise StationError(f"part {part.seq} does not match one of the {len(paths)} image files",
                                       "run the command again; if it repeats, call service")
                waiting[index] = part
                while written in waiting:
                    p, part = paths[written], waiting.pop(written)
                    if part.verdict == "NOT_INSPECTED":
                        if part.capture_error is not None:
                            unreadable += 1
                        else:
                            unjudged += 1
                        print(f"hmi: {part.reason}" if str(p) in part.reason else f"hmi: {p}: {part.reason}",
                              file=sys.stderr)
                    if args.maps is not None and part.inspection is not None:
                        _save_map(args.maps / p.resolve().relative_to(maps_root).with_suffix(".npy"),
                                  inspector.frame_map(part.inspection, part.frame_shape))
                    w.writerow([str(p), part.score, part.verdict, part.reason, part.regions,
                                f"{part.latency_ms:.2f}", part.backend or inspector.backend,
                                inspector.package.sha256, part.confidence, part.infer_ms])
                    counts[part.verdict] = counts.get(part.verdict, 0) + 1
                    written += 1
    finally:
        station.stop()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{len(paths)} images judged with '{inspector.package.manifest.name}' (recipe '{setup.recipe}') on "
          f"{inspector.backend}: {summary}; CSV: {args.csv}")
    if unreadable:
        print(f"{unreadable} images could not be read and are NOT_INSPECTED in the CSV", file=sys.stderr)
    if unjudged:
        print(f"{unjudged} images could not be judged and are NOT_INSPECTED in the CSV", file=sys.stderr)
    if skipped:
        print(f"{len(skipped)} entries named like images were skipped (not regular files) and are not in the CSV",
              file=sys.stderr)
    return 0


def _package_setup(package: ModelPackage, cfg: StationConfig, folder: Path, recipe: Recipe) -> JudgingSetup:
    """`recipe` judged with another model package under the package's own default thresholds (`hmi inspect --model`).

    The model is run as the station runs the recipe's own (hmi.inference.loading.load_inspector): the
    recipe's inspection area, the configured provider, threads, tiling and engine cache, warmed up.
    """
    from hmi.decision.policy import ThresholdSet
    from hmi.inference.loading import judging_setup, package_inspector
    from hmi.inference.worker import JudgingSetup

    inspector = package_inspector(cfg, folder, recipe, package)
    t = package.manifest.thresholds
    thresholds = ThresholdSet(0, t.score, t.hold_below, t.hold_above, t.min_defect_area_px)  # 0: no recipe's set
    carried = replace(judging_setup(recipe, inspector).carried, threshold_version=0, model=package.manifest.name,
                      model_sha256=package.sha256)
    return JudgingSetup(recipe.name, thresholds, inspector, "", carried)


def _check_running(station: Station) -> None:
    """Raise StationError when a judging thread has stopped, so the command ends instead of waiting forever."""
    failed = station.supervisor.failed()
    if failed:
        raise StationError("judging stopped: " + "; ".join(f"{h.role}: {h.error}" for h in failed),
                           "run the command again; if it repeats, call service")


@dataclass(frozen=True)
class _Judged:
    """One decided part as the CSV row needs it, without its image (and without its map unless --maps)."""

    seq: int
    verdict: str
    reason: str
    score: str
    regions: str
    latency_ms: float
    backend: str
    confidence: str
    infer_ms: str
    capture_error: str | None
    frame_shape: tuple[int, int]
    inspection: Inspection | None

    @classmethod
    def of(cls, part: Part, *, keep_map: bool) -> _Judged:
        """The figures of a decided part."""
        ins, dec = part.inspection, part.decision
        assert dec is not None
        regions = [] if ins is None else [
            {"x": r.x, "y": r.y, "w": r.w, "h": r.h, "area_px": r.area_px, "peak": round(r.peak_score, 4),
             "label": r.label, "confidence": r.confidence} for r in ins.regions]
        shape = part.image.shape[:2] if part.image is not None else (0, 0)
        return cls(seq=part.seq, verdict=dec.verdict.name, reason=dec.reason,
                   score="" if ins is None else f"{ins.score:.6f}", regions=json.dumps(regions),
                   latency_ms=part.latency_ms or 0.0, backend="" if ins is None else ins.backend,
                   confidence="" if dec.confidence is None else f"{dec.confidence:.4f}",
                   infer_ms="" if ins is None else f"{ins.infer_ms:.2f}", capture_error=part.capture_error,
                   frame_shape=(int(shape[0]), int(shape[1])),
                   inspection=None if ins is None else (ins if keep_map else replace(ins, anomaly_map=None)))


def _save_map(target: Path, frame_map: object) -> None:
    """Write one image's frame-size anomaly map (a NumPy array) to `target` (.npy), making its folder."""
    import numpy as np

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, frame_map)
    except OSError as exc:
        raise StationError(f"cannot write the anomaly map {target} ({exc.strerror or exc})",
                           "choose a writable folder with free space for --maps") from None


def _teach_targets(args: argparse.Namespace, recipe: Recipe | None) -> JudgingTargets:
    """The default thresholds' targets: the recipe's, then any given on the command line."""
    from hmi.config.schema import JudgingTargets

    targets = recipe.targets if recipe is not None else JudgingTargets()
    given = {k: v for k, v in (("false_reject", args.false_reject), ("hold_share", args.hold_share)) if v is not None}
    try:
        return JudgingTargets.model_validate({**targets.model_dump(), **given})
    except ValueError:
        said = ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in given.items())
        raise StationError(f"{said} is out of range for the default thresholds",
                           "give --false-reject between 0 and 0.5 (e.g. 0.01) and --hold-share between 0 and 0.5 "
                           "(e.g. 0.05)") from None


def cmd_teach(args: argparse.Namespace, folder: Path) -> int:
    """Teach an anomaly model from good images, with a progress line."""
    from hmi.config.loader import load_recipe, load_station
    from hmi.config.schema import RecipeTeach
    from hmi.core.image_files import max_pixels
    from hmi.inference.teach import teach

    good = args.good
    if not good.is_dir():
        raise StationError(f"folder {good} does not exist", "give the folder of good-part images with --good")
    files, special = _image_paths([good])
    paths = files + [p for p, _ in special]  # never opened: teach lists each as skipped, with why
    limit = max_pixels(load_station(folder, overrides(args)).camera.max_image_megapixels)
    tty = sys.stderr.isatty()
    last = [0.0, ""]

    def progress(stage: str, fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] > (0.2 if tty else 3.0) or fraction >= 1.0:
            last[0], last[1] = now, stage
            print(f"  {stage}: {fraction * 100:5.1f}%", end="\r" if tty else "\n", file=sys.stderr, flush=True)

    recipe = load_recipe(folder, args.recipe) if args.recipe else None
    targets = _teach_targets(args, recipe)
    backbone = args.backbone or (recipe.teach if recipe is not None else RecipeTeach()).backbone
    report = teach(paths, args.out, name=args.name or args.out.name, input_size=args.input_size,
                   coreset_ratio=args.coreset, progress=progress, augment=args.augment,
                   false_reject=targets.false_reject, hold_share=targets.hold_share, max_pixels=limit,
                   backbone=backbone)
    if tty:
        print(file=sys.stderr)
    print(report.summary())
    return 0


def cmd_evaluate(args: argparse.Namespace, folder: Path) -> int:
    """Evaluate a data set folder with the station's own teach and inspection (or an inspect CSV)."""
    import tempfile

    from hmi.inference.evaluation import evaluate, evaluate_dataset

    if args.dataset is None:
        if args.csv is None or args.truth is None:
            raise StationError("nothing to evaluate", "give a data set folder, or --csv with --truth")
        print(evaluate(args.csv, args.truth).text())
        return 0
    with tempfile.TemporaryDirectory(prefix="hmi-evaluate-") as tmp:
        work = args.work or Path(tmp)
        result = evaluate_dataset(args.dataset, work, teach_size=args.teach_size, augment=args.augment,
                                  bank_search=args.bank_search, backbone=args.backbone,
                                  progress=lambda text: print(f"  {text}", file=sys.stderr))
    print(result.text())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(result.to_json(), encoding="utf-8")
    return 0
