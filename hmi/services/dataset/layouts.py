"""The two training-set layouts: anomalib's Folder layout (good / defect / mask) and Ultralytics YOLO's.

anomalib (anomalib.data.Folder): ROOT/good/*.png are normal images, ROOT/defect/<defect type>/*.png
abnormal ones, ROOT/mask/<defect type>/*.png their masks under the same file names (255 = defect,
regions drawn as filled boxes); ROOT/folder.yaml holds the datamodule's arguments.
YOLO: ROOT/images/{train,val}/*.png, ROOT/labels/{train,val}/*.txt with one `class cx cy w h` line per
box (normalised to the image size), ROOT/data.yaml with the class names.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from hmi.core.errors import ImageError
from hmi.core.verdict import Verdict
from hmi.services.dataset.records import ReviewedPart
from hmi.store.queries import RegionRecord

UNSPECIFIED = "unspecified"  # folder of defective parts whose reviewer named no defect type
VAL_PERCENT = 20
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def folder_name(label: str | None) -> str:
    """A defect type as a folder name: letters, digits, '-' and '_' kept, anything else '_'."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", (label or "").strip()).strip("_")
    return name or UNSPECIFIED


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG file's header, without decoding the image; ImageError if it is no PNG."""
    with Path(path).open("rb") as fh:
        head = fh.read(24)
    if len(head) < 24 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ImageError(f"{path} is not a PNG image", "the image store keeps PNG frames; the file may be damaged")
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def region_mask(size: tuple[int, int], regions: tuple[RegionRecord, ...]) -> np.ndarray:
    """uint8 mask of the image size (width, height), 255 inside every region's box."""
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    for r in regions:
        x0, y0 = max(r.x, 0), max(r.y, 0)
        mask[y0:max(r.y + r.h, 0), x0:max(r.x + r.w, 0)] = 255
    return mask


def yolo_lines(regions: tuple[RegionRecord, ...], size: tuple[int, int], classes: list[str]) -> list[str]:
    """`class cx cy w h` lines (normalised, boxes clipped to the image) for the regions labelled with a class."""
    width, height = size
    lines = []
    for r in regions:
        if r.label not in classes:
            continue
        x0, y0 = min(max(r.x, 0), width), min(max(r.y, 0), height)
        x1, y1 = min(max(r.x + r.w, 0), width), min(max(r.y + r.h, 0), height)
        if x1 <= x0 or y1 <= y0:
            continue
        cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
        lines.append(f"{classes.index(r.label)} {cx:.6f} {cy:.6f} {(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}")
    return lines


def is_validation(seq: int) -> bool:
    """Whether a part goes to the validation split: a fixed share, chosen by its sequence number's hash.

    Hashing (not counting) keeps every part in the same split when later exports add more parts.
    """
    digest = hashlib.sha256(f"part {int(seq)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < VAL_PERCENT


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise ImageError(f"could not write {path}", "check that the export folder is writable and the disk not full")


def _yaml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"  # JSON strings are valid YAML


class AnomalibFolder:
    """One recipe's parts in anomalib's Folder layout under `root`."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.name = name
        self.counts: Counter[str] = Counter()  # "good", "defect/<type>"
        self.masked: Counter[str] = Counter()

    def add(self, part: ReviewedPart, image: Path, size: tuple[int, int]) -> tuple[Path, Path | None]:
        """Copy a good or defective part's image and write its mask; (image, mask or None) as written."""
        file = f"{part.seq:012d}.png"
        mask = None
        if part.verdict is Verdict.OK:
            target = self.root / "good" / file
            self.counts["good"] += 1
        else:
            kind = folder_name(part.defect_type)
            target = self.root / "defect" / kind / file
            self.counts[f"defect/{kind}"] += 1
            if part.regions:
                mask = self.root / "mask" / kind / file
                _write_png(mask, region_mask(size, part.regions))
                self.masked[f"defect/{kind}"] += 1
        _copy(image, target)
        return target, mask

    @property
    def masks_complete(self) -> bool:
        """True when every defective image has its mask (what anomalib's segmentation task needs)."""
        defects = {k: v for k, v in self.counts.items() if k.startswith("defect/")}
        return bool(defects) and all(self.masked[k] == v for k, v in defects.items())

    def finish(self) -> None:
        """Write folder.yaml: the arguments of anomalib.data.Folder for this folder."""
        abnormal = sorted(k for k in self.counts if k.startswith("defect/"))
        lines = ["# Arguments of anomalib.data.Folder (anomalib's folder datamodule) for this export.",
                 f"name: {json.dumps(self.name)}", f"root: {json.dumps(str(self.root.resolve()))}",
                 "normal_dir: good"]
        if abnormal:
            lines.append(f"abnormal_dir: {_yaml_list(abnormal)}")
            if self.masks_complete:
                lines.append(f"mask_dir: {_yaml_list(['mask/' + k.split('/', 1)[1] for k in abnormal])}")
            else:
                lines.append("# mask_dir left out: some defective parts have no regions, so no mask")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "folder.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


class YoloSet:
    """One recipe's parts in Ultralytics YOLO's detection layout under `root`."""

    def __init__(self, root: Path, classes: list[str]) -> None:
        self.root = root
        self.classes = classes
        self.counts: Counter[str] = Counter()  # "train", "val", "boxes"

    def add(self, part: ReviewedPart, image: Path, size: tuple[int, int]) -> tuple[Path, Path] | None:
        """Copy the image and write its label file; (image, label file), or None when the part is left out.

        A good part gets an empty label file (a background image). A defective part needs at least one
        region labelled with a class: without one, an empty file would teach "no defect here", so it
        is left out.
        """
        lines = [] if part.verdict is Verdict.OK else yolo_lines(part.regions, size, self.classes)
        if part.verdict is not Verdict.OK and not lines:
            return None
        split = "val" if is_validation(part.seq) else "train"
        stem = f"{part.seq:012d}"
        target = self.root / "images" / split / f"{stem}.png"
        _copy(image, target)
        label = self.root / "labels" / split / f"{stem}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        self.counts[split] += 1
        self.counts["boxes"] += len(lines)
        return target, label

    def finish(self) -> None:
        """Write data.yaml: dataset root, splits and class names."""
        names = "\n".join(f"  {i}: {json.dumps(name)}" for i, name in enumerate(self.classes))
        self.root.mkdir(parents=True, exist_ok=True)
        root = json.dumps(str(self.root.resolve()))
        (self.root / "data.yaml").write_text(
            f"# Ultralytics YOLO data set written by 'hmi dataset export'.\npath: {root}\n"
            f"train: images/train\nval: images/val\nnames:\n{names}\n", encoding="utf-8")
