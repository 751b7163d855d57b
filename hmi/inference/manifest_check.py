"""Does a model package's manifest describe its ONNX file? Checked before the first frame, in plain words.

A manifest that disagrees with its ONNX file (input size, channels, pixel type, a batch dimension fixed at
another value, the outputs its kind's adapter reads) would otherwise fail at the first part with a raw ONNX
Runtime error. The package is refused at import (`hmi model import`), at activation, at a changeover and
at station start (everything that builds an Inspector) with one message naming each mismatch, e.g.
"the manifest says input 3×256×256 (NHWC uint8), the ONNX file expects 1×224×224 (NHWC uint8)".
"""

from __future__ import annotations

from typing import Any, Sequence

from hmi.core.errors import ModelError
from hmi.inference.package import END2END, Manifest

Signature = Sequence[tuple[str, Sequence[Any], str]]  # (name, shape, type) of each input or output

# The outputs each kind's adapter reads, by role.
ROLES: dict[str, tuple[str, ...]] = {
    "anomaly": ("score", "anomaly_map"), "anomalib": ("score", "anomaly_map"), "yolo_detect": ("boxes",),
    "yolo_segment": ("boxes", "protos"), "classification": ("probabilities",)}
_ONNX_TYPE = {"uint8": "tensor(uint8)", "float32": "tensor(float)"}
TODO = ("re-import the ONNX file with 'hmi model import' (or teach the model again with 'hmi teach') so that its "
        "manifest describes it; the package was not used")


def _fixed(dim: Any) -> int | None:
    """A dimension's size, or None where the ONNX file leaves it open (a name, or unknown)."""
    return dim if isinstance(dim, int) and dim > 0 else None


def _dims(dims: Sequence[int | None]) -> str:
    return "×".join("any" if d is None else str(d) for d in dims)


def _type(onnx_type: str) -> str:
    """ONNX Runtime's 'tensor(float)' as the manifest says it: 'float32'."""
    inner = onnx_type.removeprefix("tensor(").removesuffix(")")
    return {"float": "float32", "double": "float64"}.get(inner, inner)


def input_problems(manifest: Manifest, inputs: Signature, *, batched: bool) -> list[str]:
    """What about the image input disagrees; `batched`: the station sends several tiles in one run."""
    spec = manifest.input
    names = [name for name, _, _ in inputs]
    if spec.name not in names:
        found = ", ".join(repr(n) for n in names) or "none"
        inputs_are = "inputs are" if len(names) > 1 else "input is"
        return [f"the manifest names the input '{spec.name}', the ONNX file's {inputs_are} {found}"]
    if len(inputs) > 1:
        return [f"the ONNX file takes {len(inputs)} inputs ({', '.join(names)}); the station feeds one image"]
    _, shape, onnx_type = inputs[0]
    if len(shape) != 4:
        return [f"the ONNX input '{spec.name}' has {len(shape)} dimensions; an image batch has 4 ({spec.layout})"]
    dims = [_fixed(d) for d in shape]
    batch, channels, height, width = (dims[0], dims[3], dims[1], dims[2]) if spec.layout == "NHWC" else dims
    fed = 1 if spec.color == "GRAY" else 3
    problems = []
    if spec.channels != fed:
        problems.append(f"the manifest says {spec.channels} channel(s) but colour {spec.color}, which is {fed}")
    said = (fed, spec.height, spec.width)
    wanted = (channels, height, width)
    tiles = manifest.geometry is not None  # tiles of any size: the file must leave height and width open
    differs = (channels not in (None, fed)) or (not tiles and (height not in (None, spec.height)
                                                               or width not in (None, spec.width)))
    if differs or _ONNX_TYPE[spec.dtype] != onnx_type:
        problems.append(f"the manifest says input {_dims(said)} ({spec.layout} {spec.dtype}), the ONNX file expects "
                        f"{_dims(wanted)} ({spec.layout} {_type(onnx_type)})")
    if tiles and (height is not None or width is not None):
        problems.append(f"the manifest judges frames in tiles of any size (geometry), but the ONNX file takes only "
                        f"{_dims((height, width))} images")
    if batched and batch is not None:
        problems.append(f"the ONNX file's batch dimension is fixed at {batch}, but tiles are judged several at a time")
    elif spec.batch > 1 and manifest.kind == "anomaly":
        problems.append(f"the manifest feeds batches of {spec.batch}; a taught model judges one image at a time")
    elif batch not in (None, 1) and batch != spec.batch:
        fed = "the station judges one image at a time" if spec.batch == 1 else f"the manifest feeds {spec.batch}"
        problems.append(f"the ONNX file's batch dimension is fixed at {batch}; {fed}")
    return problems


def output_problems(manifest: Manifest, outputs: Signature, *, tiled: bool = False) -> list[str]:
    """What about the outputs the kind's adapter reads disagrees (missing, or of another shape)."""
    roles = ROLES.get(manifest.kind, ())
    unnamed = [r for r in roles if r not in manifest.outputs]
    if unnamed:
        return [f"the manifest does not name the {', '.join(unnamed)} output a {manifest.kind} model needs"]
    by_name = {name: [_fixed(d) for d in shape] for name, shape, _ in outputs}
    missing = [f"'{manifest.outputs[r]}' ({r})" for r in roles if manifest.outputs[r] not in by_name]
    if missing:
        return [f"the ONNX file has no output {', '.join(missing)}; its outputs are {', '.join(by_name) or 'none'}"]
    shape = {r: by_name[manifest.outputs[r]] for r in roles}
    problems = []
    if "score" in shape and (len(shape["score"]) > 2 or any(d not in (None, 1) for d in shape["score"][1:])):
        problems.append(f"the score output has shape {_dims(shape['score'])}; one score an image was expected")
    if "anomaly_map" in shape:
        amap = shape["anomaly_map"]
        if tiled and len(amap) != 3:
            problems.append(f"the anomaly map has shape {_dims(amap)}; tiles need a [batch, height, width] map")
        elif not 2 <= len(amap) <= 4 or (len(amap) == 4 and amap[1] not in (None, 1)):
            problems.append(f"the anomaly map has shape {_dims(amap)}; one map an image was expected")
    classes = len(manifest.class_names)
    if manifest.kind in ("yolo_detect", "yolo_segment", "classification") and not classes:
        problems.append("the manifest names no classes")
    if "boxes" in shape:
        boxes = shape["boxes"]
        masks: int | None = 0
        if "protos" in shape:
            protos = shape["protos"]
            masks = protos[1] if len(protos) == 4 else None
            if len(protos) != 4:
                problems.append(f"the prototype masks have shape {_dims(protos)}; [batch, masks, height, width] "
                                "was expected")
        end2end = manifest.extra.get("output") == END2END  # rows of x1, y1, x2, y2, confidence, class
        if len(boxes) != 3:
            problems.append(f"the detections have shape {_dims(boxes)}; [batch, values, anchors] was expected")
        elif end2end:
            if boxes[2] is not None and masks is not None and boxes[2] != 6 + masks:
                problems.append(f"the end-to-end detections hold {boxes[2]} values a row; box, confidence and class "
                                f"need 6{f' + {masks} mask coefficients' if masks else ''}")
        elif boxes[1] is not None and masks is not None and boxes[1] != 4 + classes + masks:
            problems.append(f"the detections hold {boxes[1]} values an anchor, the manifest's {classes} classes need "
                            f"4 + {classes}{f' + {masks} mask coefficients' if masks else ''}")
    if "probabilities" in shape:
        probs = shape["probabilities"]
        if len(probs) != 2:
            problems.append(f"the class output has shape {_dims(probs)}; [batch, classes] was expected")
        elif probs[1] is not None and probs[1] != classes:
            problems.append(f"the ONNX file gives {probs[1]} classes, the manifest names {classes}")
    return problems


def check_fits(manifest: Manifest, inputs: Signature, outputs: Signature, *, batched: bool = False) -> None:
    """Refuse, naming every mismatch, a manifest that does not describe its ONNX file (ModelError)."""
    problems = input_problems(manifest, inputs, batched=batched) + output_problems(
        manifest, outputs, tiled=manifest.geometry is not None)
    if problems:
        raise ModelError(f"model '{manifest.name}' does not match its ONNX file: {'; '.join(problems)}", TODO)


__all__ = ["ROLES", "check_fits", "input_problems", "output_problems"]
