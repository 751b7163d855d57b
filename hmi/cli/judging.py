"""`hmi inspect`, `hmi teach` and `hmi evaluate`: judging images, teaching a model, measuring it on a data set."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hmi.cli.options import command, overrides
from hmi.core.errors import StationError

if TYPE_CHECKING:
    from hmi.config.schema import JudgingTargets


def register(sub: argparse._SubParsersAction) -> None:
    """Register `inspect`, `teach` and `evaluate`."""
    ins = command(sub, "inspect", cmd_inspect, help="judge image files with a model and write a CSV")
    ins.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    ins.add_argument("--model", type=Path, required=True, help="model folder (manifest.json + model.onnx)")
    ins.add_argument("--csv", type=Path, required=True, help="output CSV file")
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
    teach.add_argument("--recipe", default=None, help="take the targets from this recipe (default: none, 1 %% / 5 %%)")

    ev = command(sub, "evaluate", cmd_evaluate, help="teach and judge a data set folder (train/good, test/good, test/defect): "
                                         "AUROC, recall, rates at the default thresholds; or score an inspect CSV")
    ev.add_argument("dataset", nargs="?", type=Path, default=None,
                    help="data set folder: train/good, test/good, test/defect, optional test/mask")
    ev.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    ev.add_argument("--work", type=Path, default=None, help="where the taught model is kept (default: a temporary folder)")
    ev.add_argument("--teach-size", type=int, default=256, help="teach size passed to the station's teach")
    ev.add_argument("--augment", action="store_true", help="teach with turned and mirrored views")
    ev.add_argument("--csv", type=Path, default=None, help="instead: a CSV written by 'hmi inspect' ...")
    ev.add_argument("--truth", type=Path, default=None, help="... and its ground_truth.csv (file,label)")


def _image_paths(paths: list[Path]) -> list[Path]:
    exts = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"}
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() in exts))
        else:
            out.append(p)
    return out


def cmd_inspect(args: argparse.Namespace, folder: Path) -> int:
    """Batch-judge images: one CSV row per image (path, score, verdict, reason, regions, latency_ms)."""
    import csv
    import json

    from hmi.config.loader import load_station
    from hmi.core.errors import ImageError
    from hmi.decision.policy import ThresholdSet, decide
    from hmi.inference.inspector import Inspector, read_image
    from hmi.inference.package import ModelPackage

    cfg = load_station(folder, overrides(args))
    package = ModelPackage.load(args.model)
    t = package.manifest.thresholds
    thresholds = ThresholdSet(0, t.score, t.hold_below, t.hold_above, t.min_defect_area_px)
    inspector = Inspector(package, provider=cfg.inference.provider, threads=cfg.inference.threads,
                          engine_cache=folder / "engines", tile=cfg.inference.tile)
    inspector.warm_up(cfg.inference.warmup_runs)
    paths = _image_paths(args.paths)
    if not paths:
        raise StationError("no image files found in " + ", ".join(map(str, args.paths)), "check the paths")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    maps_root = Path(os.path.commonpath([str(p.resolve().parent) for p in paths]))
    counts: dict[str, int] = {}
    unreadable = 0
    with args.csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "score", "verdict", "reason", "regions", "latency_ms", "backend", "model_sha256"])
        for p in paths:
            t0 = time.perf_counter()
            try:
                frame = read_image(p)
                ins = inspector.inspect(frame)
            except ImageError as exc:
                unreadable += 1
                verdict, reason = decide(None, thresholds, failure=str(exc))
                w.writerow([str(p), "", verdict.name, reason, "[]", f"{(time.perf_counter() - t0) * 1000:.2f}",
                            inspector.backend, package.sha256])
                print(f"hmi: {exc}", file=sys.stderr)
                counts[verdict.name] = counts.get(verdict.name, 0) + 1
                continue
            verdict, reason = decide(ins, thresholds)
            if args.maps is not None:
                _save_map(args.maps / p.resolve().relative_to(maps_root).with_suffix(".npy"),
                          inspector.frame_map(ins, frame.shape[:2]))
            regions = [{"x": r.x, "y": r.y, "w": r.w, "h": r.h, "area_px": r.area_px,
                        "peak": round(r.peak_score, 4), "label": r.label, "confidence": r.confidence}
                       for r in ins.regions]
            w.writerow([str(p), f"{ins.score:.6f}", verdict.name, reason, json.dumps(regions),
                        f"{(time.perf_counter() - t0) * 1000:.2f}", ins.backend, package.sha256])
            counts[verdict.name] = counts.get(verdict.name, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{len(paths)} images judged with '{package.manifest.name}' on {inspector.backend}: {summary}; CSV: {args.csv}")
    if unreadable:
        print(f"{unreadable} images could not be read and are NOT_INSPECTED in the CSV", file=sys.stderr)
    return 0


def _save_map(target: Path, frame_map: object) -> None:
    """Write one image's frame-size anomaly map (a NumPy array) to `target` (.npy), making its folder."""
    import numpy as np

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, frame_map)
    except OSError as exc:
        raise StationError(f"cannot write the anomaly map {target} ({exc.strerror or exc})",
                           "choose a writable folder with free space for --maps") from None


def _teach_targets(args: argparse.Namespace, folder: Path) -> JudgingTargets:
    """The default thresholds' targets: the named recipe's, then any given on the command line."""
    from hmi.config.loader import load_recipe
    from hmi.config.schema import JudgingTargets

    targets = load_recipe(folder, args.recipe).targets if args.recipe else JudgingTargets()
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
    from hmi.inference.teach import teach

    good = args.good
    if not good.is_dir():
        raise StationError(f"folder {good} does not exist", "give the folder of good-part images with --good")
    paths = _image_paths([good])
    tty = sys.stderr.isatty()
    last = [0.0, ""]

    def progress(stage: str, fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] > (0.2 if tty else 3.0) or fraction >= 1.0:
            last[0], last[1] = now, stage
            print(f"  {stage}: {fraction * 100:5.1f}%", end="\r" if tty else "\n", file=sys.stderr, flush=True)

    targets = _teach_targets(args, folder)
    report = teach(paths, args.out, name=args.name or args.out.name, input_size=args.input_size,
                   coreset_ratio=args.coreset, progress=progress, augment=args.augment,
                   false_reject=targets.false_reject, hold_share=targets.hold_share)
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
                                  progress=lambda text: print(f"  {text}", file=sys.stderr))
    print(result.text())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(result.to_json(), encoding="utf-8")
    return 0
