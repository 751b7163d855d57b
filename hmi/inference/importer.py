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
from hmi.inference.adapters import (ADAPTERS, END2END, ULTRALYTICS_CONF, ULTRALYTICS_IOU, ULTRALYTICS_MAX_DET,
                                    is_defect_class)
from hmi.inference.backend import Session
from hmi.inference.external_data import external_data_files
from hmi.inference.package import (MANIFEST, InputSpec, Manifest, ModelPackage, ThresholdDefaults, TrainingInfo,
                                   package_sha256, write_manifest)
from hmi.inference.ultralytics_export import UltralyticsExport, read_ultralytics

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
ANOMALIB_KEYS = ("image_threshold", "pixel_threshold", "min", "max")


@dataclass(frozen=True)
class ImportOptions:
    """Per-model settings given to `hmi model import` (None: the export's recorded value or its exporter's default)."""

    conf: float | None = None
    iou: float | None = None
    max_det: int | None = None
    crop: str | None = None  # classifier: "centre" (Ultralytics) or "stretch"
    good: Path | None = None  # anomalib: folder of good parts for the station's tail-fit thresholds


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


def _image_input(sig: OnnxSignature, size: tuple[int, int] | None = None) -> tuple[str, int, int]:
    """(name, height, width) of the single NCHW 3-channel float input, or ModelError saying what was found.

    `size`: the (height, width) to feed where the file leaves them open (a graph that resizes inside).
    """
    if len(sig.inputs) != 1:
        raise ModelError(f"the ONNX file takes {len(sig.inputs)} inputs, an image model takes one ({sig.describe()})",
                         "export the model with a single image input")
    name, shape, typ = sig.inputs[0]
    if len(shape) != 4 or shape[1] != 3 or "float" not in typ:
        raise ModelError(f"the ONNX input is not a float image batch [N,3,H,W] ({sig.describe()})",
                         "export the model with an NCHW float32 RGB input, or teach one with 'hmi teach'")
    h, w = shape[2], shape[3]
    if not isinstance(h, int) or not isinstance(w, int):
        size = _imgsz(sig.metadata) or size
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
    """The adapter kind this signature fits, or None; an Ultralytics export is recognised by its metadata only.

    An Ultralytics task or head the station does not run (OBB, pose, RT-DETR, ...) is refused by name (ModelError).
    """
    if len(sig.inputs) != 1 or len(sig.inputs[0][1]) != 4 or sig.inputs[0][1][1] != 3:
        return None  # every kind here takes one NCHW 3-channel image
    outs = {n: s for n, s, _ in sig.outputs}
    names = [n.lower() for n in outs]
    if any(k in sig.metadata for k in ANOMALIB_KEYS) or "anomaly_map" in names:
        return "anomalib"
    ultra = read_ultralytics(sig.metadata)
    if ultra is not None:
        return ultra.kind
    shapes = list(outs.values())
    if len(shapes) == 1 and len(shapes[0]) == 2:
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


def _yolo_outputs(sig: OnnxSignature, kind: str, n_classes: int, end2end: bool) -> dict[str, str]:
    """Output roles of a YOLO export, refusing outputs that do not hold what its metadata says."""
    o = sig.outputs
    first = o[0][1] if o else []
    segment = kind == "yolo_segment"
    if segment and (len(o) != 2 or len(o[1][1]) != 4):
        raise ModelError(f"a YOLO segmentation export has two outputs, detections and prototype masks ({sig.describe()})",
                         "export with Ultralytics' task=segment, or choose --kind yolo_detect")
    masks = o[1][1][1] if segment and isinstance(o[1][1][1], int) else 0
    if end2end:
        if len(first) != 3 or (isinstance(first[2], int) and first[2] != 6 + masks):
            raise ModelError(f"the export says its detections are end-to-end, but its output does not hold rows of "
                             f"box, confidence, class{' and mask coefficients' if masks else ''} ({sig.describe()})",
                             "re-export the model with Ultralytics, or export it without nms=True")
    elif len(first) != 3 or (isinstance(first[1], int) and first[1] != 4 + n_classes + masks):
        raise ModelError(f"the ONNX output does not hold 4 box values + {n_classes} class scores"
                         f"{f' + {masks} mask coefficients' if masks else ''} per anchor ({sig.describe()})",
                         "export with Ultralytics' format=onnx, or give the right class names with --classes")
    return {"boxes": o[0][0], "protos": o[1][0]} if segment else {"boxes": o[0][0]}


def _n_classes(sig: OnnxSignature, kind: str, names: list[str], end2end: bool) -> int | None:
    shape = sig.outputs[0][1] if sig.outputs else []
    if kind == "classification" and len(shape) == 2 and isinstance(shape[1], int):
        return shape[1]
    if end2end:
        return len(names) or None  # rows carry a class index, not one score per class
    if kind in ("yolo_detect", "yolo_segment") and len(shape) == 3 and isinstance(shape[1], int):
        masks = sig.outputs[1][1][1] if kind == "yolo_segment" and len(sig.outputs) == 2 else 0
        return shape[1] - 4 - (masks if isinstance(masks, int) else 32)
    return None


def _setting(given: float | None, recorded: Any, default: float, what: str) -> tuple[float, str]:
    """A post-processing value and where it came from: the import option, the export's args, the exporter's default."""
    if given is not None:
        return float(given), "set at import"
    if isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
        return float(recorded), "recorded in the export"
    return default, f"Ultralytics' default {what}"


def _yolo_settings(ultra: UltralyticsExport | None, kind: str, options: ImportOptions
                   ) -> dict[str, float | str | list[float]]:
    """The manifest's post-processing entries for a YOLO export, as Ultralytics' own predictor would run it."""
    args = ultra.args if ultra else {}
    end2end = bool(ultra and ultra.end2end)
    conf, conf_from = _setting(options.conf, args.get("conf"), ULTRALYTICS_CONF, "confidence")
    iou, iou_from = _setting(options.iou, args.get("iou"), ULTRALYTICS_IOU, "IoU")
    max_det, _ = _setting(options.max_det, args.get("max_det"), ULTRALYTICS_MAX_DET, "")
    for name, value in (("--conf", conf), ("--iou", iou)):
        if not 0.0 <= value <= 1.0:
            raise ModelError(f"{name} {value:g} is not between 0 and 1", f"give {name} as a fraction, e.g. 0.25")
    if end2end and options.iou is not None:
        raise ModelError("the export suppresses overlapping boxes inside the model (end-to-end), so --iou cannot "
                         "change it", "leave out --iou, or export the model without nms=True to set it here")
    out: dict[str, float | str | list[float]] = {
        "output": END2END if end2end else "anchors",
        "min_confidence": conf, "min_confidence_from": conf_from, "max_det": float(int(max_det)),
        "agnostic_nms": "yes" if args.get("agnostic_nms") is True else "no",
        "letterbox": "aspect kept, INTER_LINEAR, grey 114, centred (Ultralytics LetterBox)",
        "score": "highest confidence of defect-class boxes at or above their class threshold"}
    if end2end:
        out["nms"] = "inside the model" + (" (exported with nms=True)" if args.get("nms") is True else
                                           " (NMS-free head)")
    else:
        out.update({"nms_iou": iou, "nms_iou_from": iou_from, "nms": "here, class-aware (Ultralytics NMS)"})
    if kind == "yolo_segment":
        out["masks"] = "prototype logits upsampled bilinearly to the input, > 0, cropped to the box (Ultralytics)"
    return out


def _batch(sig: OnnxSignature) -> int:
    """The input's fixed batch size (1 when open): such a file is fed the image that many times."""
    dim = sig.inputs[0][1][0] if sig.inputs and sig.inputs[0][1] else 1
    return dim if isinstance(dim, int) and dim > 1 else 1


def _anomalib_manifest(sig: OnnxSignature) -> tuple[dict[str, str], InputSpec, dict[str, float | str | list[float]]]:
    """Outputs, input and the normalisation entries of an anomalib export (anomalib 2: in the graph; 1: metadata)."""
    meta = sig.metadata
    outputs = _anomalib_outputs(sig)
    # anomalib 2 resizes inside the graph and leaves height and width open: feed frames at its map's size.
    amap = next(s for n, s, _ in sig.outputs if n == outputs["anomaly_map"])
    in_name, h, w = _image_input(sig, tuple(amap[-2:]) if all(isinstance(d, int) for d in amap[-2:]) else None)
    in_graph = any(n.lower() == "pred_label" for n, _, _ in sig.outputs)
    values = {k: _number(meta[k]) for k in ANOMALIB_KEYS if k in meta}
    if not in_graph and any(values.get(k) is None for k in ("image_threshold", "min", "max")):
        raise ModelError("the anomalib export carries no normalisation metadata (image_threshold, min, max)",
                         "put the metadata.json anomalib wrote beside the .onnx file, then import again")
    extra: dict[str, float | str | list[float]] = {k: float(v) for k, v in values.items() if v is not None}
    extra["normalisation"] = "in-graph" if in_graph else "anomalib min-max"
    if in_graph and not all(isinstance(d, int) for d in sig.inputs[0][1][2:]):
        extra["resize"] = "in-graph"  # frames are fed at their own size; the graph resizes as anomalib does
    extra["score"] = "anomalib image score, normalised so that its threshold is 0.5"
    spec = InputSpec(name=in_name, batch=_batch(sig), width=w, height=h, channels=3, layout="NCHW", dtype="float32",
                     color="RGB", scale=1 / 255, mean=[0.0] if in_graph else IMAGENET_MEAN,
                     std=[1.0] if in_graph else IMAGENET_STD)
    return outputs, spec, extra


def build_manifest(sig: OnnxSignature, kind: str, name: str, sha256: str, classes: list[str] | None = None,
                   options: ImportOptions | None = None) -> Manifest:
    """The manifest of an imported export: input spec, output roles, class names, post-processing and thresholds."""
    options = options or ImportOptions()
    meta = sig.metadata
    ultra = read_ultralytics(meta)
    if ultra is not None and ultra.kind != kind:
        raise ModelError(f"the export's metadata says it is an Ultralytics '{ultra.task}' model, not {kind}",
                         f"leave out --kind (it is imported as {ultra.kind})")
    if kind != "anomalib" and options.good is not None:
        raise ModelError("--good fits thresholds to the scores of good parts, which only anomaly models give",
                         "leave out --good for a detector or classifier")
    extra: dict[str, float | str | list[float]] = {"imported_from": kind}
    if ultra is not None:
        extra.update({"exporter": f"Ultralytics {ultra.version}".strip(), "task": ultra.task, "head": ultra.head})
    class_names: list[str] = []
    class_thresholds: dict[str, float] = {}
    region_threshold: float | None = None
    if kind == "anomalib":
        outputs, spec, more = _anomalib_manifest(sig)
        extra.update(more)
        region_threshold = 0.5
        # anomalib's own decision: anomalous from its normalised threshold 0.5 on, no band (hmi model import --good
        # replaces these with the station's tail fit on good parts, which holds the uncertain ones for review).
        thresholds = ThresholdDefaults(score=0.5, hold_below=0.0, hold_above=0.0)
        extra["thresholds_from"] = "anomalib's threshold (normalised score 0.5)"
    else:
        class_names = list(classes or parse_class_names(meta))
        end2end = bool(ultra and ultra.end2end)
        n = _n_classes(sig, kind, class_names, end2end)
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
        in_name, h, w = _image_input(sig)
        mean, std = [0.0], [1.0]
        if kind == "classification":
            outputs = {"probabilities": sig.outputs[0][0]}
            mean = _floats(meta, "mean") or mean
            std = _floats(meta, "std") or std
            class_thresholds = {c: 0.5 for c in class_names if is_defect_class(c)}
            thresholds = ThresholdDefaults(score=0.5, hold_below=0.1, hold_above=0.0)
            crop = options.crop or ("centre" if ultra is not None else "stretch")
            extra.update({"score": "highest probability among defect classes", "crop": crop,
                          "resize": "shorter side to the input, bilinear (antialiased), centre crop (Ultralytics)"
                          if crop == "centre" else "whole frame stretched to the input"})
        else:
            outputs = _yolo_outputs(sig, kind, n, end2end)
            settings = _yolo_settings(ultra, kind, options)
            floor = float(settings["min_confidence"])
            class_thresholds = {c: floor for c in class_names if is_defect_class(c)}
            thresholds = ThresholdDefaults(score=max(0.5, floor), hold_below=min(0.15, max(0.5, floor) - floor),
                                           hold_above=0.0)
            extra.update(settings)
        spec = InputSpec(name=in_name, batch=_batch(sig), width=w, height=h, channels=3, layout="NCHW",
                         dtype="float32", color="RGB", scale=1 / 255, mean=mean, std=std)
        extra["defect_classes"] = ",".join(c for c in class_names if is_defect_class(c))
    for key in ("author", "version", "date", "description"):
        if key in meta and meta[key]:
            extra[f"exporter_{key}"] = str(meta[key])[:200]
    return Manifest(name=name, kind=kind, sha256=sha256, input=spec, outputs=outputs, region_threshold=region_threshold,
                    thresholds=thresholds, class_names=class_names, class_thresholds=class_thresholds,
                    training=TrainingInfo(method=f"imported {kind} ONNX export"), extra=extra)


def import_model(onnx_path: Path, out: Path, kind: str | None = None, name: str = "",
                 classes: list[str] | None = None, options: ImportOptions | None = None) -> ModelPackage:
    """Recognise `onnx_path`, copy it into `out` as model.onnx (with the external data files it names) and its
    manifest, and load the package back; with `options.good`, fit the default thresholds to those good parts."""
    onnx_path = Path(onnx_path)
    out = Path(out)
    options = options or ImportOptions()
    if not onnx_path.is_file():
        raise ModelError(f"ONNX file {onnx_path} does not exist", "check the path")
    if kind is not None and kind not in ADAPTERS:
        raise ModelError(f"unknown model kind '{kind}'", f"use one of: {', '.join(ADAPTERS)}")
    if out.exists() and any(out.iterdir()):
        raise ModelError(f"model folder {out} already exists and is not empty", "choose a new --out folder")
    if options.crop not in (None, "centre", "stretch"):
        raise ModelError(f"unknown crop policy '{options.crop}'", "use --crop centre or --crop stretch")
    external = external_data_files(onnx_path)
    if "model.onnx" in external:
        raise ModelError(f"{onnx_path.name} keeps its weights in a file named model.onnx",
                         "export the model again under another name")
    sig = read_signature(onnx_path)
    found = kind or guess_kind(sig)
    if found is None:
        raise ModelError(f"{onnx_path.name} fits none of the model kinds this station runs ({sig.describe()})",
                         f"give --kind ({', '.join(ADAPTERS)}) if it is one of them, or teach an anomaly model")
    sha256 = package_sha256(onnx_path.parent, onnx_path.name, external)
    manifest = build_manifest(sig, found, name or out.name, sha256, classes, options)
    manifest = manifest.model_copy(update={"external_data": external})
    out.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(onnx_path, out / manifest.onnx)
        for data_file in external:
            shutil.copyfile(onnx_path.parent / data_file, out / data_file)
        write_manifest(out, manifest)
        package = check_package(out)
        if options.good is not None:
            from hmi.inference.import_thresholds import fit_to_good_parts

            write_manifest(out, fit_to_good_parts(package, options.good))
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
        for path in [folder / MANIFEST, *source.files]:
            shutil.copyfile(path, out / path.name)
        return check_package(out)
    except OSError as exc:
        shutil.rmtree(out, ignore_errors=True)
        raise ModelError(f"the model could not be copied to {out} ({exc.strerror or exc})",
                         "check that the disk has free space and the folder is writable") from None
    except Exception:
        shutil.rmtree(out, ignore_errors=True)
        raise
