"""`hmi model import` then `hmi inspect` on the 30 comparison images, against each exporter's own predictions.

For every export in tests/fixtures/exports (made by tools/make_export_fixtures.py), this runs the station's
CLI exactly as a technician would, reads the regions from the inspect CSV and compares them with the
predictions the exporter's own predictor stored beside the file; prints the table for docs/models.md.

    python tools/compare_exports.py [--only yolo11_detect,...]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from hmi.inference.package import ModelPackage  # noqa: E402
from tests.support.export_compare import (Agreement, FIXTURES, compare_class, compare_regions, fixture_kinds,  # noqa: E402
                                          predictions, spearman)
from tests.support.export_scenes import EVAL_SIZES, eval_images  # noqa: E402


def hmi(*args: str) -> str:
    """Run the station's CLI; its output, or exit with what it said."""
    done = subprocess.run([sys.executable, "-m", "hmi", *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"hmi {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    return done.stdout


def compare(kind: str, work: Path, images: list[Path]) -> tuple[Agreement, str]:
    """Import `kind`'s export, inspect the images, compare; returns the agreement and a note."""
    pkg_dir = work / "models" / kind
    hmi("model", "import", str(FIXTURES / kind / "model.onnx"), "--out", str(pkg_dir), "--data-dir", str(work / "d"))
    out = work / f"{kind}.csv"
    hmi("inspect", *map(str, images), "--model", str(pkg_dir), "--csv", str(out), "--data-dir", str(work / "d"))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    m = ModelPackage.load(pkg_dir).manifest
    theirs = predictions(kind)
    a = Agreement()
    if m.kind == "anomalib":
        ours = [float(r["score"]) for r in rows]
        rho = spearman(ours, theirs["lightning_scores"])
        a.images, a.boxes, a.matched = len(rows), len(rows), len(rows) if rho >= 0.999 else 0
        return a, f"rank correlation {rho:.4f} with anomalib's scores"
    for i, (row, t) in enumerate(zip(rows, theirs["images"])):
        regions = json.loads(row["regions"])
        if m.kind == "classification":
            label = regions[0]["label"] if regions else None
            compare_class(a, i, float(row["score"]), label, t, m.class_names,
                          [c in m.class_thresholds for c in m.class_names])
        else:
            compare_regions(a, i, regions, t, m.class_names, m.class_thresholds)
    return a, ""


def main(argv: list[str] | None = None) -> int:
    """Print the comparison table (markdown) for the fixtures named by --only (default: all)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="")
    args = p.parse_args(argv)
    kinds = [k for k in args.only.split(",") if k] or fixture_kinds()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        images = []
        for i, img in enumerate(eval_images()):
            path = work / "images" / f"{i:02d}_{EVAL_SIZES[i][0]}x{EVAL_SIZES[i][1]}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), img[:, :, ::-1])
            images.append(path)
        print("| export | images | exporter's regions | same | missing | extra | worst IoU | worst Δconf | "
              "worst Δarea | note |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for kind in kinds:
            a, note = compare(kind, work, images)
            print(f"| {kind} | {a.images} | {a.boxes} | {a.matched} | {a.missing} | {a.extra} | {a.worst_iou:.3f} | "
                  f"{a.worst_dconf:.4f} | {a.worst_darea:.2%} | {note or ('; '.join(a.problems[:2]) or 'all agree')} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
