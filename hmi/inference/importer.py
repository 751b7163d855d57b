"""`hmi model import`: recognise an ONNX export users bring and write a model package around it."""

from __future__ import annotations

import ast
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hmi.core.errors import ModelError
from hmi.inference.adapters import ADAPTERS, is_defect_class
from hmi.inference.backend import Session
from hmi.inference.package import (MANIFEST, InputSpec, Manifest, ModelPackage, ThresholdDefaults, TrainingInfo,
                                   file_sha256, write_manifest)

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
YOLO_CLASS_FLOOR = 0.25  # Ultralytics' own default confidence
ANOMALIB_KEYS = ("image_threshold", "pixel_threshold", "min", "max")


@dataclass(frozen=True)
class OnnxSignature:
    """What an ONNX file takes and gives, and the metadata its exporter left in it (or beside it)."""

    inputs: list[tuple[str, list[Any], str]]
    outputs: list[tuple[str, list[Any], str]]
    metadata: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line such as 'inputs images[1,3,640,640] float; outputs output0[1,6,8400]'."""
        def one(items):
            return ", ".join(f"{n}[{','.join(str(d) for d in s)}] {t.replace('tensor(', '').rstrip(')')}"
                             for n, s, t in items)
        return f"inputs {one(self.inputs)}; outputs {one(self.outputs)}"


def read_signature(onnx_path: Path) -> OnnxSignature:
    """Open the file with ONNX Runtime (CPU) and read its signature, plus anomalib's metadata.json beside it."""
    session = Session(onnx_path, provider="cpu", threads=1)
    meta = session.metadata()
    sidecar = onnx_path.with_name("metadata.json")
    if sidecar.exists():
        try:
            extra = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            extra = {}
        for k, v in (extra.items() if isinstance(extra, dict) else ()):
            meta.setdefault(str(k), json.dumps(v) if isinstance(v, (dict, list)) else str(v))
    return OnnxSignature(session.inputs(), session.outputs(), meta)


def _number(text: str) -> float | None:
    m = re.search(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", str(text))
    return float(m.group(0)) if m else None


def parse_class_names(meta: dict[str, str]) -> list[str]:
    """Class names from exporter metadata: Ultralytics' "{0: 'a', 1: 'b'}", a JSON list, or 'a,b' text."""
    for key in ("names", "class_names", "labels", "classes"):
        raw = meta.get(key)
        if not raw:
            continue
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = [s for s in re.split(r"[,;\s]+", raw) if s]
        if isinstance(value, dict):
            return [str(value[k]) for k in sorted(value, key=lambda k: int(k))]
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
    return []


def _floats(meta: dict[str, str], key: str) -> list[float]:
    """A list of numbers from metadata such as '[0.485, 0.456, 0.406]'; [] when absent or not numbers."""
    values = [_number(p) for p in re.split(r"[,;\s\[\]]+", meta.get(key, "")) if p]
    return [float(v) for v in values] if values and all(v is not None for v in values) else []


def _image_input(sig: OnnxSignature) -> tuple[str, int, int]:
    """(name, height, width) of the single NCHW 3-channel float input, or ModelError saying what was found."""
    if len(sig.inputs) != 1:
        raise ModelError(f"the ONNX file takes {len(sig.inputs)} inputs, an image model takes one ({sig.describe()})",
                         "export the model with a single image input")
    name, shape, typ = sig.inputs[0]
    if len(shape) != 4 or shape[1] != 3 or "float" not in typ:
        raise ModelError(f"the ONNX input is not a float image batch [N,3,H,W] ({sig.describe()})",
                         "export the model with an NCHW float32 RGB input, or teach one with 'hmi teach'")
    h, w = shape[2], shape[3]
    if not isinstance(h, int) or not isinstance(w, int):
        size = _imgsz(sig.metadata)
        if size is None:
            raise ModelError(f"the ONNX input has no fixed height and width ({sig.describe()})",
                             "export the model with a fixed image size (e.g. imgsz=640)")
        h, w = size
    return name, int(h), int(w)


def _imgsz(meta: dict[str, str]) -> tuple[int, int] | None:
    raw = meta.get("imgsz")
    if not raw:
        return None
    try:
        v = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(v, int):
        return v, v
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return int(v[0]), int(v[1])
    return None


def guess_kind(sig: OnnxSignature) -> str | None:
    """The adapter kind this signature fits, or None."""
    if len(sig.inputs) != 1 or len(sig.inputs[0][1]) != 4 or sig.inputs[0][1][1] != 3:
        return None  # every kind here takes one NCHW 3-channel image
    outs = {n: s for n, s, _ in sig.outputs}
    task = sig.metadata.get("task", "").strip().lower()
    names = [n.lower() for n in outs]
    if any(k in sig.metadata for k in ANOMALIB_KEYS) or "anomaly_map" in names:
        return "anomalib"
    shapes = list(outs.values())
    if task == "segment" or (len(shapes) == 2 and len(shapes[0]) == 3 and len(shapes[1]) == 4):
        return "yolo_segment"
    if task == "detect" or (len(shapes) == 1 and len(shapes[0]) == 3):
        return "yolo_detect"
    if task == "classify" or (len(shapes) == 1 and len(shapes[0]) == 2):
        return "classification"
    return None


def _anomalib_outputs(sig: OnnxSignature) -> dict[str, str]:
    outs = {n: s for n, s, _ in sig.outputs}
    amap = next((n for n in outs if n.lower() == "anomaly_map"), None) or \
        next((n for n, s in outs.items() if len(s) >= 3), None)
    score = next((n for n in outs if n.lower() in ("pred_score", "score", "image_score")), None) or \
        next((n for n, s in outs.items() if n != amap and len(s) <= 2 and n.lower() not in ("pred_label",)), None)
    if amap is None or score is None:
        raise ModelError(f"the ONNX file has no image score and anomaly map output ({sig.describe()})",
                         "export the anomalib model with task 'segmentation', or choose another --kind")
    return {"score": score, "anomaly_map": amap}


def _yolo_outputs(sig: OnnxSignature, kind: str, n_classes: int) -> dict[str, str]:
    o = sig.outputs
    first = o[0][1] if o else []
    extra = 32 if kind == "yolo_segment" else 0
    if kind == "yolo_segment" and (len(o) != 2 or len(o[1][1]) != 4):
        raise ModelError(f"a YOLO segmentation export has two outputs, detections and 32 prototype masks ({sig.describe()})",
                         "export with Ultralytics' task=segment, or choose --kind yolo_detect")
    if len(first) != 3 or (isinstance(first[1], int) and first[1] != 4 + n_classes + extra):
        raise ModelError(f"the ONNX output does not hold 4 box values + {n_classes} class scores"
                         f"{' + 32 mask coefficients' if extra else ''} per anchor ({sig.describe()})",
                         "export with Ultralytics' format=onnx (no NMS inside), or give the right class names")
    return {"boxes": o[0][0], "protos": o[1][0]} if extra else {"boxes": o[0][0]}


def _n_classes(sig: OnnxSignature, kind: str) -> int | None:
    shape = sig.outputs[0][1] if sig.outputs else []
    if kind == "classification" and len(shape) == 2 and isinstance(shape[1], int):
        return shape[1]
    if kind in ("yolo_detect", "yolo_segment") and len(shape) == 3 and isinstance(shape[1], int):
        return shape[1] - 4 - (32 if kind == "yolo_segment" else 0)
    return None


def build_manifest(sig: OnnxSignature, kind: str, name: str, sha256: str, classes: list[str] | None = None) -> Manifest:
    """The manifest of an imported export: input spec, output roles, class names and default thresholds."""
    in_name, h, w = _image_input(sig)
    meta = sig.metadata
    extra: dict[str, float | str | list[float]] = {"imported_from": kind}
    class_names: list[str] = []
    class_thresholds: dict[str, float] = {}
    region_threshold: float | None = None
    if kind == "anomalib":
        outputs = _anomalib_outputs(sig)
        in_graph = any(n.lower() == "pred_label" for n, _, _ in sig.outputs)
        values = {k: _number(meta[k]) for k in ANOMALIB_KEYS if k in meta}
        if not in_graph and any(values.get(k) is None for k in ("image_threshold", "min", "max")):
            raise ModelError("the anomalib export carries no normalisation metadata (image_threshold, min, max)",
                             "put the metadata.json anomalib wrote beside the .onnx file, then import again")
        extra.update({k: float(v) for k, v in values.items() if v is not None})
        extra["normalisation"] = "in-graph" if in_graph else "anomalib min-max"
        extra["score"] = "anomalib image score, normalised so its threshold is 0.5"
        spec = InputSpec(name=in_name, width=w, height=h, channels=3, layout="NCHW", dtype="float32", color="RGB",
                         scale=1 / 255, mean=[0.0] if in_graph else IMAGENET_MEAN, std=[1.0] if in_graph else IMAGENET_STD)
        region_threshold = 0.5
        thresholds = ThresholdDefaults(score=0.5, hold_below=0.05, hold_above=0.05)
    else:
        n = _n_classes(sig, kind)
        class_names = list(classes or parse_class_names(meta))
        if n is None:
            raise ModelError(f"the ONNX output does not fit a {kind} export ({sig.describe()})",
                             "choose the right --kind, or re-export the model")
        if not class_names:
            raise ModelError(f"the ONNX file gives {n} classes but names none",
                             "give them with --classes good,scratch,... (in output order)")
        if len(class_names) != n:
            raise ModelError(f"the ONNX output has {n} classes but {len(class_names)} names were found "
                             f"({', '.join(class_names)})", "give the names with --classes, in output order")
        if not any(is_defect_class(c) for c in class_names):
            raise ModelError(f"every class ({', '.join(class_names)}) names a good part, so nothing could be rejected",
                             "check the class names")
        mean, std = [0.0], [1.0]
        if kind == "classification":
            outputs = {"probabilities": sig.outputs[0][0]}
            mean = _floats(meta, "mean") or mean
            std = _floats(meta, "std") or std
            class_thresholds = {c: 0.5 for c in class_names if is_defect_class(c)}
            thresholds = ThresholdDefaults(score=0.5, hold_below=0.1, hold_above=0.0)
            extra["score"] = "highest probability among defect classes"
        else:
            outputs = _yolo_outputs(sig, kind, n)
            class_thresholds = {c: YOLO_CLASS_FLOOR for c in class_names if is_defect_class(c)}
            thresholds = ThresholdDefaults(score=0.5, hold_below=0.15, hold_above=0.0)
            extra.update({"min_confidence": YOLO_CLASS_FLOOR, "nms_iou": 0.45,
                          "score": "highest confidence of defect-class boxes at or above their class threshold"})
        spec = InputSpec(name=in_name, width=w, height=h, channels=3, layout="NCHW", dtype="float32", color="RGB",
                         scale=1 / 255, mean=mean, std=std)
        extra["defect_classes"] = ",".join(c for c in class_names if is_defect_class(c))
    for key in ("author", "version", "date", "description"):
        if key in meta and meta[key]:
            extra[f"exporter_{key}"] = str(meta[key])[:200]
    return Manifest(name=name, kind=kind, sha256=sha256, input=spec, outputs=outputs, region_threshold=region_threshold,
                    thresholds=thresholds, class_names=class_names, class_thresholds=class_thresholds,
                    training=TrainingInfo(method=f"imported {kind} ONNX export"), extra=extra)


def import_model(onnx_path: Path, out: Path, kind: str | None = None, name: str = "",
                 classes: list[str] | None = None) -> ModelPackage:
    """Recognise `onnx_path`, copy it into `out` as model.onnx with its manifest, and load the package back."""
    onnx_path = Path(onnx_path)
    out = Path(out)
    if not onnx_path.is_file():
        raise ModelError(f"ONNX file {onnx_path} does not exist", "check the path")
    if kind is not None and kind not in ADAPTERS:
        raise ModelError(f"unknown model kind '{kind}'", f"use one of: {', '.join(ADAPTERS)}")
    if out.exists() and any(out.iterdir()):
        raise ModelError(f"model folder {out} already exists and is not empty", "choose a new --out folder")
    sig = read_signature(onnx_path)
    found = kind or guess_kind(sig)
    if found is None:
        raise ModelError(f"{onnx_path.name} fits none of the model kinds this station runs ({sig.describe()})",
                         f"give --kind ({', '.join(ADAPTERS)}) if it is one of them, or teach an anomaly model")
    manifest = build_manifest(sig, found, name or out.name, file_sha256(onnx_path), classes)
    out.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(onnx_path, out / manifest.onnx)
        write_manifest(out, manifest)
        package = check_package(out)
    except Exception:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return package


def check_package(folder: Path) -> ModelPackage:
    """Load the package in `folder` and run it once as the station will, refusing any mismatch in plain words.

    The hash, the manifest against the ONNX file (hmi.inference.manifest_check), the default thresholds
    against the score range, and one run on a blank image of the manifest's size.
    """
    from hmi.inference.inspector import Inspector

    package = ModelPackage.load(folder)
    Inspector(package, provider="cpu", threads=1).warm_up(1)
    return package


def import_package(folder: Path, out: Path) -> ModelPackage:
    """Copy a model package made elsewhere (manifest.json and its ONNX file) into `out`, checked as the station
    will use it; nothing is left in `out` when it is refused."""
    folder, out = Path(folder), Path(out)
    if out.exists() and any(out.iterdir()):
        raise ModelError(f"model folder {out} already exists and is not empty", "choose a new --out folder")
    source = check_package(folder)  # refused here, before anything is copied
    out.mkdir(parents=True, exist_ok=True)
    try:
        for name in (MANIFEST, source.manifest.onnx):
            shutil.copyfile(folder / name, out / name)
        return check_package(out)
    except OSError as exc:
        shutil.rmtree(out, ignore_errors=True)
        raise ModelError(f"the model could not be copied to {out} ({exc.strerror or exc})",
                         "check that the disk has free space and the folder is writable") from None
    except Exception:
        shutil.rmtree(out, ignore_errors=True)
        raise
