"""A model package: a folder with model.onnx, manifest.json and the ONNX file's SHA-256 (DESIGN.md, Models)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hmi.core.errors import ModelError

MANIFEST = "manifest.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSpec(_Strict):
    """What the ONNX graph takes. Normalisation is baked into the graph; Python only resizes and masks."""

    name: str = "image"
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
    """Default thresholds chosen at teach/import time."""

    score: float
    hold_below: float = 0.0
    hold_above: float = 0.0
    min_defect_area_px: int = 0


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
    onnx: str = "model.onnx"
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$")
    input: InputSpec
    outputs: dict[str, str] = Field(default_factory=dict, description="role -> ONNX output name (score, anomaly_map, ...)")
    # Anomaly-map value from which a pixel belongs to a defect region (same scale as score).
    region_threshold: float | None = None
    thresholds: ThresholdDefaults
    class_names: list[str] = Field(default_factory=list)
    class_thresholds: dict[str, float] = Field(default_factory=dict)
    training: TrainingInfo = Field(default_factory=TrainingInfo)
    geometry: GeometrySpec | None = None
    extra: dict[str, float | str | list[float]] = Field(default_factory=dict)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
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
    def sha256(self) -> str:
        """SHA-256 of the ONNX file, as checked at load."""
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
        if not onnx_file.exists():
            raise ModelError(f"model file {onnx_file} is missing", "copy the whole model folder again")
        actual = file_sha256(onnx_file)
        if actual != manifest.sha256:
            raise ModelError(
                f"model file {onnx_file} has SHA-256 {actual[:12]}…, but its manifest says {manifest.sha256[:12]}…",
                "the file was altered or damaged; copy the model folder again")
        if expect_sha256 and actual != expect_sha256:
            raise ModelError(
                f"model '{manifest.name}' has SHA-256 {actual[:12]}…, but the recipe expects {expect_sha256[:12]}…",
                "select the model the recipe was approved with, or update the recipe (technician)")
        return cls(folder, manifest)


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Write manifest.json next to the ONNX file."""
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return path
