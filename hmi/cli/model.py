"""The `hmi model` commands: bring a model made elsewhere (anomalib, Ultralytics YOLO, a classifier) to the station."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from hmi.cli.options import command

if TYPE_CHECKING:
    from hmi.inference.package import Manifest

KINDS = ("anomalib", "yolo_detect", "yolo_segment", "classification")


def register(sub: argparse._SubParsersAction) -> None:
    """Register the `model` sub-command and its `import` action."""
    model = command(sub, "model", None, help="model package tools (import an ONNX export)")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    imp = command(model_sub, "import", _import,
                  help="recognise an ONNX export and write a model package around it, or copy in a model package "
                       "made elsewhere; either is checked as the station will run it")
    imp.add_argument("onnx", type=Path, help="the .onnx file (anomalib's metadata.json beside it is read too), or a "
                                             "model package folder (manifest.json and its ONNX file)")
    imp.add_argument("--out", type=Path, required=True, help="model folder to create (e.g. DATA_DIR/models/NAME)")
    imp.add_argument("--kind", choices=KINDS, default=None, help="skip recognition and import as this kind")
    imp.add_argument("--name", default="", help="model name (default: the folder name)")
    imp.add_argument("--classes", default="", metavar="A,B,...",
                     help="class names in output order, when the file does not carry them")
    imp.add_argument("--conf", type=float, default=None, metavar="0.25",
                     help="YOLO: confidence floor (default: the export's recorded value, else Ultralytics' 0.25)")
    imp.add_argument("--iou", type=float, default=None, metavar="0.7",
                     help="YOLO: NMS IoU (default: the export's recorded value, else Ultralytics' 0.7; "
                          "not for end-to-end exports, which suppress inside the model)")
    imp.add_argument("--max-det", type=int, default=None, metavar="300",
                     help="YOLO: most detections kept per image (default: Ultralytics' 300)")
    imp.add_argument("--crop", choices=("centre", "stretch"), default=None,
                     help="classifier: resize the shorter side and centre-crop (Ultralytics' default for its "
                          "exports) or stretch the whole frame (default for other classifiers)")
    imp.add_argument("--good", type=Path, default=None, metavar="DIR",
                     help="anomalib: a folder of good-part images; the default thresholds are fitted to their "
                          "scores as 'hmi teach' fits its own (otherwise anomalib's threshold 0.5, no HOLD band)")


def settings_lines(m: Manifest) -> list[str]:
    """How the imported model's frames are prepared and its outputs read, as the manifest records it."""
    e = m.extra
    lines = []
    if "task" in e:
        head = f" ({e['head']} head)" if e.get("head") else ""
        lines.append(f"export: {e.get('exporter', 'Ultralytics')} {e['task']}{head}, input {m.input.width}x"
                     f"{m.input.height}")
    if "min_confidence" in e:
        nms = (f"NMS IoU {e['nms_iou']:g} ({e.get('nms_iou_from', '')})" if "nms_iou" in e else f"NMS {e.get('nms')}")
        lines.append(f"post-processing: confidence above {e['min_confidence']:g} ({e.get('min_confidence_from', '')}), "
                     f"{nms}, at most {int(float(e.get('max_det', 300)))} boxes; letterbox {e.get('letterbox', '')}")
    if "crop" in e:
        lines.append(f"pre-processing: {e.get('resize', e['crop'])}")
    if "normalisation" in e:
        lines.append(f"scores: {e['score']} ({e['normalisation']})"
                     + ("; frames go in at their own size, the graph resizes them" if e.get("resize") == "in-graph"
                        else "")
                     + (f"; the file's batch is fixed at {m.input.batch}, each image is fed {m.input.batch} times"
                        if m.input.batch > 1 else ""))
    return lines


def _import(args: argparse.Namespace, data_dir: Path) -> int:
    """Import an ONNX export as a model package, or copy in a package; prints what was imported."""
    from hmi.core.errors import StationError
    from hmi.inference.importer import ImportOptions, import_model, import_package
    from hmi.inference.package import MANIFEST

    options = ImportOptions(conf=args.conf, iou=args.iou, max_det=args.max_det, crop=args.crop, good=args.good)
    if args.onnx.is_dir():
        if args.kind or args.name or args.classes or options != ImportOptions():
            raise StationError(f"{args.onnx} is a model package: its manifest already gives kind, name, classes "
                               "and post-processing", "leave out the options, or import its .onnx file instead")
        if not (args.onnx / MANIFEST).is_file():
            raise StationError(f"folder {args.onnx} holds no {MANIFEST}",
                               "give a model package folder, or the .onnx file of an export")
        package = import_package(args.onnx, args.out)
    else:
        classes = [c.strip() for c in args.classes.split(",") if c.strip()] or None
        package = import_model(args.onnx, args.out, kind=args.kind, name=args.name, classes=classes, options=options)
    m = package.manifest
    t = m.thresholds
    print(f"imported '{m.name}' as {m.kind}: input {m.input.width}x{m.input.height}, "
          f"SHA-256 {m.sha256[:12]}…, folder {package.folder}")
    if m.class_names:
        defects = [c for c in m.class_names if c in m.class_thresholds]
        print(f"classes: {', '.join(m.class_names)}; counted as defects: {', '.join(defects)}")
    for line in settings_lines(m):
        print(line)
    band = (f"HOLD from {t.score - t.hold_below:g} to {t.score + t.hold_above:g}" if t.hold_below or t.hold_above
            else "no HOLD band")
    print(f"default thresholds: score {t.score:g} ({band}; {m.extra.get('thresholds_from', 'import defaults')}); "
          "check them on real parts with 'hmi inspect' before approving a recipe")
    return 0
