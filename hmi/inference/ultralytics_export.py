"""What an Ultralytics export says about itself (its ONNX metadata), and which of its tasks the station runs.

Ultralytics writes task, head, end2end, args, names, imgsz and batch as Python literals into the ONNX file's
metadata. The station decides from these, never from output shapes: a task or head it does not run (oriented
boxes, pose, RT-DETR, open-vocabulary heads, ...) is refused by name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from hmi.core.errors import ModelError

TASK_KINDS = {"detect": "yolo_detect", "segment": "yolo_segment", "classify": "classification"}
# The heads whose ONNX outputs the adapters decode (Ultralytics 8.x); a missing head (older exports) goes by task.
HEADS = {"Detect", "v10Detect", "Segment", "Segment26", "Classify"}
TASK_WORDS = {"obb": "oriented bounding box (OBB)", "pose": "pose (keypoints)", "semantic": "semantic segmentation",
              "depth": "depth estimation"}


def _literal(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


@dataclass(frozen=True)
class UltralyticsExport:
    """The metadata of an Ultralytics export that the station runs."""

    kind: str
    task: str
    head: str
    end2end: bool
    version: str
    args: dict[str, Any] = field(default_factory=dict)


def read_ultralytics(meta: dict[str, str]) -> UltralyticsExport | None:
    """The export's Ultralytics metadata, None when it was not written by Ultralytics; ModelError naming the task
    or head when the station does not run it."""
    if not meta.get("author", "").lower().startswith("ultralytics") and not ("task" in meta and "stride" in meta):
        return None
    task = str(meta.get("task", "")).strip().lower()
    head = str(meta.get("head", "")).strip()
    description = str(meta.get("description", ""))
    model = description.removeprefix("Ultralytics ").split(" model")[0].strip()
    named = ", ".join(p for p in (model, f"head {head}" if head else "") if p)
    todo = "export a detect, segment or classify model (YOLOv8, YOLO11, YOLOv10, YOLO26) and import that"
    if head.startswith("RTDETR") or "rtdetr" in description.lower().replace("-", ""):
        raise ModelError(f"the file is an Ultralytics RT-DETR export ({named or 'RT-DETR'}), which this station "
                         "does not run", todo)
    if task not in TASK_KINDS:
        raise ModelError(f"the file is an Ultralytics {TASK_WORDS.get(task, repr(task))} export"
                         f"{f' ({named})' if named else ''}, a task this station does not run", todo)
    if head and head not in HEADS:
        raise ModelError(f"the file is an Ultralytics {task} export with a {head} head ({model or 'model'}), whose "
                         "outputs this station does not decode", todo)
    args = _literal(meta.get("args"))
    args = args if isinstance(args, dict) else {}
    end2end = _literal(meta.get("end2end")) is True or args.get("nms") is True
    if task == "classify":
        end2end = False
    return UltralyticsExport(TASK_KINDS[task], task, head, end2end, str(meta.get("version", "")), args)
