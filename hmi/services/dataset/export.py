"""`hmi dataset export`: reviewed parts as a training set, so a plant's operator feedback feeds retraining.

Reads the records through a read-only connection and the frames from the image store; writes
OUT/anomalib/<recipe>/..., OUT/yolo/<recipe>/... (see hmi.services.dataset.layouts) and OUT/manifest.csv with one
row per reviewed part: its verdicts, who reviewed it, and the files written (or why none were).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from hmi.config.loader import load_recipe, recipe_path
from hmi.core.errors import ConfigError, ImageError, ModelError, StationError, StoreError
from hmi.core.image_files import special_kind
from hmi.core.verdict import Verdict
from hmi.services.dataset.layouts import AnomalibFolder, YoloSet, folder_name, png_size
from hmi.services.dataset.records import ExportFilter, ReviewedPart, reviewed_parts
from hmi.inference.loading import find_model
from hmi.inference.package import ModelPackage
from hmi.store.database import database_path, open_readonly

Layout = Literal["anomalib", "yolo", "both"]
LAYOUTS: tuple[str, ...] = ("anomalib", "yolo", "both")
MANIFEST_FILE = "manifest.csv"
MANIFEST_COLUMNS = ("seq", "recipe", "captured_at", "auto_verdict", "verdict", "review", "reviewed_by",
                    "reviewed_at", "defect_type", "regions", "file", "mask", "yolo_label", "note")
ANOMALY_LABEL = "anomaly"  # the label of regions found by an anomaly map: a place, not a class


@dataclass
class ExportReport:
    """What an export wrote and what it left out, with the reasons, for the command's output."""

    out: Path
    parts: int = 0
    exported: int = 0
    no_image: int = 0
    not_a_label: int = 0
    anomalib: dict[str, Counter] = field(default_factory=dict)
    yolo: dict[str, Counter] = field(default_factory=dict)
    yolo_left_out: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report in plain lines."""
        out = [f"{self.parts} reviewed parts found; {self.exported} exported to {self.out}"]
        if self.no_image:
            out.append(f"{self.no_image} reviewed parts have no stored image (never saved, or removed by the image "
                       "quota) and were skipped")
        if self.not_a_label:
            out.append(f"{self.not_a_label} reviewed parts have a final verdict other than OK or NG and were skipped")
        for recipe, counts in self.anomalib.items():
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
            out.append(f"anomalib/{recipe}: {kinds}")
        for recipe, counts in self.yolo.items():
            out.append(f"yolo/{recipe}: {counts['train']} train, {counts['val']} val images, {counts['boxes']} boxes")
        if self.yolo_left_out:
            out.append(f"{self.yolo_left_out} defective parts left out of the YOLO set: none of their regions "
                       "carries a class name")
        out += self.notes
        out.append(f"manifest: {self.out / MANIFEST_FILE}")
        return out


def parse_time(text: str, tz: ZoneInfo) -> datetime:
    """An ISO date or date-time from the command line; without an offset it is the plant's local time."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise StationError(f"'{text}' is not a date or time", "write it as 2026-11-22 or 2026-11-22T06:00") from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def yolo_classes(data_dir: Path, recipe: str, parts: list[ReviewedPart]) -> tuple[list[str], str]:
    """Class names for one recipe's YOLO set, in class-id order, and a note on where they came from.

    The recipe's defect types first, then the class names of its model that are not among them. When
    the recipe file is gone, the labels its stored regions carry stand in.
    """
    try:
        spec = load_recipe(data_dir, recipe)
    except ConfigError as exc:
        seen = sorted({r.label for p in parts for r in p.regions if r.label != ANOMALY_LABEL})
        gone = "no longer exists" if not recipe_path(data_dir, recipe).exists() else f"cannot be read ({exc.what})"
        return seen, (f"recipe '{recipe}' {gone}; its YOLO classes are the region labels found in the records: "
                      f"{', '.join(seen) or 'none'}")
    classes = list(spec.defect_types)
    try:
        folder = find_model(spec.model.name, data_dir)  # as the station looks: its own models, then the shipped
    except ModelError:
        return classes, ""  # the recipe's model is gone: its classes are the recipe's defect types
    try:
        names = ModelPackage.load(folder).manifest.class_names
    except ModelError as exc:
        return classes, f"model of recipe '{recipe}' unreadable ({exc.what}); YOLO classes from the recipe only"
    classes += [n for n in names if n not in classes]
    return classes, ""


def export_training_set(data_dir: Path, out: Path, *, flt: ExportFilter = ExportFilter(),
                        layout: Layout = "both") -> ExportReport:
    """Export the reviewed parts matching `flt` into the empty (or new) folder `out`; returns what was written."""
    if layout not in LAYOUTS:
        raise StationError(f"layout '{layout}' is not known", "use anomalib, yolo or both")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StationError(f"{out} already exists and is not empty",
                           "choose a new folder for the export, or empty this one first")
    conn = open_readonly(database_path(data_dir))
    try:
        parts = list(reviewed_parts(conn, flt))
    finally:
        conn.close()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the export folder {out} ({exc.strerror or exc})",
                         "check the path and that you may write there") from None
    report = ExportReport(out=out, parts=len(parts))
    by_recipe: dict[str, list[ReviewedPart]] = {}
    for part in parts:
        by_recipe.setdefault(part.recipe, []).append(part)
    rows: list[dict[str, object]] = []
    for recipe, recipe_parts in by_recipe.items():
        rows += _export_recipe(data_dir, out, recipe, recipe_parts, layout, report)
    rows.sort(key=lambda r: int(r["seq"]))
    with (out / MANIFEST_FILE).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return report


def _export_recipe(data_dir: Path, out: Path, recipe: str, parts: list[ReviewedPart], layout: Layout,
                   report: ExportReport) -> list[dict[str, object]]:
    folder = folder_name(recipe)
    anomalib = AnomalibFolder(out / "anomalib" / folder, recipe) if layout in ("anomalib", "both") else None
    yolo = None
    if layout in ("yolo", "both"):
        classes, note = yolo_classes(data_dir, recipe, parts)
        if note:
            report.notes.append(note)
        yolo = YoloSet(out / "yolo" / folder, classes)
    rows = [_export_part(data_dir, out, part, anomalib, yolo, report) for part in parts]
    if anomalib is not None and anomalib.counts:
        anomalib.finish()
        report.anomalib[recipe] = Counter(anomalib.counts)
    if yolo is not None and (yolo.counts["train"] or yolo.counts["val"]):
        yolo.finish()
        report.yolo[recipe] = Counter(yolo.counts)
    return rows


def _export_part(data_dir: Path, out: Path, part: ReviewedPart, anomalib: AnomalibFolder | None,
                 yolo: YoloSet | None, report: ExportReport) -> dict[str, object]:
    """Write one part into the layouts asked for; its manifest row."""
    row: dict[str, object] = {
        "seq": part.seq, "recipe": part.recipe, "captured_at": part.captured_at,
        "auto_verdict": part.auto_verdict.name, "verdict": part.verdict.name, "review": part.review,
        "reviewed_by": part.reviewed_by, "reviewed_at": part.reviewed_at or "",
        "defect_type": part.defect_type or "", "regions": len(part.regions), "file": "", "mask": "",
        "yolo_label": "", "note": ""}
    if part.verdict not in (Verdict.OK, Verdict.NG):
        report.not_a_label += 1
        row["note"] = f"final verdict {part.verdict.name} is not a training label"
        return row
    image = data_dir / part.image_path if part.image_path else None
    if image is None or not image.is_file():
        report.no_image += 1
        row["note"] = ("no stored image (never saved, or removed by the image quota)"
                       if image is None or not image.exists() else
                       f"stored image is {special_kind(image.stat().st_mode)}, not an image file; skipped")
        return row
    try:
        size = png_size(image)
    except ImageError as exc:
        report.no_image += 1
        row["note"] = exc.what
        return row

    def rel(path: Path) -> str:
        return path.relative_to(out).as_posix()

    try:
        if anomalib is not None:
            file, mask = anomalib.add(part, image, size)
            row["file"], row["mask"] = rel(file), rel(mask) if mask else ""
        if yolo is not None:
            written = yolo.add(part, image, size)
            if written is None:
                report.yolo_left_out += 1
                row["note"] = "left out of the YOLO set: no region carries a class name"
            else:
                row["file"] = row["file"] or rel(written[0])
                row["yolo_label"] = rel(written[1])
    except OSError as exc:
        raise StoreError(f"cannot write into the export folder {out} ({exc.strerror or exc})",
                         "free disk space or choose another folder, then export again") from None
    if row["file"]:
        report.exported += 1
    return row
