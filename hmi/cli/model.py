"""The `hmi model` commands: bring a model made elsewhere (anomalib, Ultralytics YOLO, a classifier) to the station."""

from __future__ import annotations

import argparse
from pathlib import Path

from hmi.cli.options import command

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


def _import(args: argparse.Namespace, data_dir: Path) -> int:
    """Import an ONNX export as a model package, or copy in a package; prints what was imported."""
    from hmi.core.errors import StationError
    from hmi.inference.importer import import_model, import_package
    from hmi.inference.package import MANIFEST

    if args.onnx.is_dir():
        if args.kind or args.name or args.classes:
            raise StationError(f"{args.onnx} is a model package: its manifest already gives kind, name and classes",
                               "leave out --kind, --name and --classes, or import its .onnx file instead")
        if not (args.onnx / MANIFEST).is_file():
            raise StationError(f"folder {args.onnx} holds no {MANIFEST}",
                               "give a model package folder, or the .onnx file of an export")
        package = import_package(args.onnx, args.out)
    else:
        classes = [c.strip() for c in args.classes.split(",") if c.strip()] or None
        package = import_model(args.onnx, args.out, kind=args.kind, name=args.name, classes=classes)
    m = package.manifest
    t = m.thresholds
    print(f"imported '{m.name}' as {m.kind}: input {m.input.width}x{m.input.height}, "
          f"SHA-256 {m.sha256[:12]}…, folder {package.folder}")
    if m.class_names:
        defects = [c for c in m.class_names if c in m.class_thresholds]
        print(f"classes: {', '.join(m.class_names)}; counted as defects: {', '.join(defects)}")
    print(f"default thresholds: score {t.score:g} (HOLD from {t.score - t.hold_below:g} to {t.score + t.hold_above:g}); "
          "check them on real parts with 'hmi inspect' before approving a recipe")
    return 0
