"""A model package: a folder with model.onnx, manifest.json and the ONNX file's SHA-256 (DESIGN.md, Models)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hmi.core.errors import ModelError

END2END = "end-to-end"  # manifest extra "output": detections already suppressed (NMS inside, or an NMS-free head)

MANIFEST = "manifest.json"

Finite = Annotated[float, Field(allow_inf_nan=False)]
# The scores each kind gives when its manifest declares no range: a taught anomaly model's score is a feature
# distance (0 and up, no upper end); the adapters' scores are normalised scores, confidences or probabilities.
KIND_SCORE_RANGE: dict[str, tuple[float, float]] = {
    "anomaly": (0.0, math.inf), "anomalib": (0.0, 1.0), "yolo_detect": (0.0, 1.0), "yolo_segment": (0.0, 1.0),
    "classification": (0.0, 1.0)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSpec(_Strict):
    """What the ONNX graph takes. Normalisation is baked into the graph; Python only resizes and masks."""

    name: str = "image"
    batch: int = Field(1, ge=1, le=64, description="an imported file's fixed batch: the image is fed this many times")
    width: int = Field(..., gt=0)
    height: int = Field(..., gt=0)
    channels: Literal[1, 3] = 3
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    dtype: Literal["uint8", "float32"] = "uint8"
    color: Literal["RGB", "BGR", "GRAY"] = "RGB"
    # Only for dtype float32 graphs that do not normalise inside: x = (pixel * scale - mean) / std.
    scale: float = 1.0
    mean: list[float] = Field(default_factory=lambda: [0.0])
    std: list[float] = Field(default_factory=lambda: [1.0])


class ThresholdDefaults(_Strict):
    """Default thresholds chosen at teach/import time: finite, inside the model's score range."""

    score: Finite
    hold_below: Finite = Field(0.0, ge=0)
    hold_above: Finite = Field(0.0, ge=0)
    min_defect_area_px: int = Field(0, ge=0)


class ScoreRange(_Strict):
    """The scores a model gives, lowest to highest (`high` None: no upper end); thresholds must lie inside."""

    low: Finite = 0.0
    high: Finite | None = None


class GeometrySpec(_Strict):
    """How frames are brought to the model: one scale factor (aspect kept, never enlarged) and tiles.

    Written by teach; absent in packages that resize every frame to the model input (older models and
    imported ones).
    """

    scale: float = Field(..., gt=0.0, le=1.0, description="frame pixels are multiplied by this before judging")
    tile: int = Field(512, ge=64, multiple_of=16, description="largest tile side in pixels at model scale")
    overlap: int = Field(64, ge=0, multiple_of=16, description="tile overlap in pixels at model scale")
    teach_size: int = Field(256, ge=16, description="the taught images' median shorter side was scaled to this")


class TrainingInfo(_Strict):
    """How the model was made, for traceability."""

    images: int = 0
    heldout_images: int = 0
    data_sha256: str = ""
    date: str = ""
    method: str = ""
    backbone: str = ""
    bank_size: int = 0
    seconds: float = 0.0
    heldout_scores: list[float] = Field(default_factory=list, description="scores of held-out good images, for drift reports")


class Manifest(_Strict):
    """manifest.json of a model package."""

    name: str = Field(..., min_length=1)
    version: str = "1"
    kind: Literal["anomaly", "anomalib", "yolo_detect", "yolo_segment", "classification"] = "anomaly"
    onnx: str = Field("model.onnx", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.onnx$",
                      description="the ONNX file's name, in the package folder")
    external_data: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]] = Field(
        default_factory=list, description="files beside the ONNX file holding its weights (ONNX external data)")
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$",
                        description="SHA-256 of the ONNX file, or of it and its external data files (package_sha256)")
    input: InputSpec
    outputs: dict[str, str] = Field(default_factory=dict, description="role -> ONNX output name (score, anomaly_map, ...)")
    # Anomaly-map value from which a pixel belongs to a defect region (same scale as score).
    region_threshold: Finite | None = None
    thresholds: ThresholdDefaults
    score_range: ScoreRange | None = Field(None, description="the model's scores, when not its kind's (KIND_SCORE_RANGE)")
    class_names: list[str] = Field(default_factory=list)
    class_thresholds: dict[str, Finite] = Field(default_factory=dict)
    training: TrainingInfo = Field(default_factory=TrainingInfo)
    geometry: GeometrySpec | None = None
    extra: dict[str, float | str | list[float]] = Field(default_factory=dict)

    @property
    def backbone_precision(self) -> str:
        """The taught backbone's precision: "int8" where teach kept an INT8 backbone, else "float"."""
        return str(self.extra.get("backbone_precision", "float"))


def score_range(manifest: Manifest) -> tuple[float, float]:
    """(lowest, highest) score the model gives: the manifest's `score_range`, else its kind's; highest may be inf."""
    if manifest.score_range is not None:
        high = manifest.score_range.high
        return manifest.score_range.low, math.inf if high is None else high
    return KIND_SCORE_RANGE.get(manifest.kind, (-math.inf, math.inf))


def range_text(low: float, high: float) -> str:
    """A score range in words: '0 to 1', '0 and up'."""
    return f"{low:g} and up" if math.isinf(high) else f"{low:g} to {high:g}"


def threshold_problem(score: float, hold_below: float, hold_above: float, manifest: Manifest) -> str:
    """Why a threshold set cannot judge by this model ('' when it can): not finite, or outside its score range.

    The threshold must lie within the range, and so must the NG limit (threshold + HOLD band above it): a
    limit no score reaches would pass or hold every part.
    """
    values = {"score": score, "hold_below": hold_below, "hold_above": hold_above}
    bad = [f"{k} = {v}" for k, v in values.items() if not isinstance(v, (int, float)) or not math.isfinite(v)]
    if bad:
        return f"{', '.join(bad)} is not a finite number"
    low, high = score_range(manifest)
    if not low <= score <= high:
        return (f"threshold {score:g} is outside the scores model '{manifest.name}' gives "
                f"({range_text(low, high)})")
    if score + hold_above > high:
        return (f"the NG limit {score + hold_above:g} (threshold + HOLD band above) is above the highest score model "
                f"'{manifest.name}' gives ({high:g}), so no part could be rejected")
    return ""


def _feed(h: "hashlib._Hash", path: Path) -> None:
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    _feed(h, path)
    return h.hexdigest()


def package_sha256(folder: Path, onnx_name: str, external: list[str]) -> str:
    """The package hash: the ONNX file's SHA-256, or with external data one SHA-256 over the ONNX file and then
    each data file (name, a zero byte, its bytes) in name order, so that no weight can change unseen."""
    if not external:
        return file_sha256(folder / onnx_name)
    h = hashlib.sha256()
    for i, name in enumerate([onnx_name, *sorted(external)]):
        if i:
            h.update(name.encode() + b"\0")
        _feed(h, folder / name)
    return h.hexdigest()


class ModelPackage:
    """A validated model folder: manifest read, ONNX present, hash checked."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.folder = folder
        self.manifest = manifest

    @property
    def onnx_path(self) -> Path:
        """The ONNX file."""
        return self.folder / self.manifest.onnx

    @property
    def files(self) -> list[Path]:
        """The ONNX file and its external data files: what the package hash covers."""
        return [self.onnx_path, *(self.folder / n for n in self.manifest.external_data)]

    @property
    def sha256(self) -> str:
        """The package hash (package_sha256), as checked at load."""
        return self.manifest.sha256

    @classmethod
    def load(cls, folder: Path, expect_sha256: str = "") -> "ModelPackage":
        """Open and verify a package; refuse it in plain words if anything does not match."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelError(f"model folder {folder} does not exist", "check the recipe's model name or the --model path")
        mpath = folder / MANIFEST
        if not mpath.exists():
            raise ModelError(f"model folder {folder} has no {MANIFEST}",
                             "use a folder made by 'hmi teach' or 'hmi model import'")
        try:
            manifest = Manifest.model_validate(json.loads(mpath.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, ValidationError) as exc:
            first = str(exc).splitlines()[0:3]
            raise ModelError(f"{mpath} is not a valid manifest ({' '.join(first)})",
                             "rebuild the package with 'hmi teach' or 'hmi model import'") from None
        onnx_file = folder / manifest.onnx
        for name in [manifest.onnx, *manifest.external_data]:
            if not (folder / name).is_file():
                raise ModelError(f"model file {folder / name} is missing", "copy the whole model folder again")
        actual = package_sha256(folder, manifest.onnx, manifest.external_data)
        if actual != manifest.sha256:
            raise ModelError(
                f"model file {onnx_file}{' with its data files' if manifest.external_data else ''} has SHA-256 "
                f"{actual[:12]}…, but its manifest says {manifest.sha256[:12]}…",
                "the file was altered or damaged; copy the model folder again")
        if expect_sha256 and actual != expect_sha256:
            raise ModelError(
                f"model '{manifest.name}' has SHA-256 {actual[:12]}…, but the recipe expects {expect_sha256[:12]}…",
                "select the model the recipe was approved with, or update the recipe (technician)")
        t = manifest.thresholds
        if problem := threshold_problem(t.score, t.hold_below, t.hold_above, manifest):
            raise ModelError(f"{mpath}: the default thresholds cannot be used: {problem}",
                             "rebuild the package with 'hmi teach' or 'hmi model import'")
        return cls(folder, manifest)


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Write manifest.json next to the ONNX file."""
    path = folder / MANIFEST
    # allow_nan=False: the file stays standard JSON (Infinity and NaN are refused by the manifest's own fields).
    data = manifest.model_dump(mode="json")
    if data.get("score_range") is None:
        data.pop("score_range", None)  # the kind's range: packages stay as older stations wrote them
    if not data.get("external_data"):
        data.pop("external_data", None)
    if data["input"].get("batch") == 1:
        data["input"].pop("batch")
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path
