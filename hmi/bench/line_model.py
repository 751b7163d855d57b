"""The bench's line model: the demo product taught as a line with a large camera teaches it.

A line teaches on good parts photographed by its own camera, at a teach size the technician chooses; the
model then judges the camera's frames at that same scale (hmi.inference.geometry). `hmi bench --frame-size
WxH --teach-size N` measures that: a model taught with the station's own teach on good demo parts rendered
at WxH, put in force by a recipe of its own in a data folder of the bench's own (never the station's).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hmi.config.loader import load_recipe, save_recipe
from hmi.config.schema import Recipe
from hmi.core.errors import ModelError
from hmi.inference.package import ModelPackage

RECIPE = "bench-line"


def model_name(frames: Path, teach_size: int, backbone: str = "float") -> str:
    """The cached model's name: the frames it was taught on, the teach size and an INT8 backbone."""
    return f"bench-{frames.name}-t{teach_size}" + ("-int8" if backbone == "int8" else "")


def taught_model(good_frames: Path, teach_size: int, cache_root: Path, backbone: str = "float") -> Path:
    """The model taught on `good_frames` at `teach_size` with a `backbone` ("float" or "int8"), taught once and
    kept under `cache_root`."""
    from hmi.inference.teach import teach

    out = cache_root / "bench-models" / model_name(good_frames, teach_size, backbone)
    if out.is_dir():
        try:
            ModelPackage.load(out)
            return out
        except ModelError:  # taught by another station version, or damaged: teach it again
            shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = teach(sorted(good_frames.glob("*.png")), out, name=out.name, input_size=teach_size, backbone=backbone)
    print(report.summary().splitlines()[0], flush=True)
    if report.int8_check is not None:  # INT8 asked for: whether teach kept it, and why not
        print(report.int8_check.text(), flush=True)
    return out


def install(data_dir: Path, model_dir: Path) -> str:
    """Copy the model into the bench's data folder with a recipe of its own (the demo recipe's settings, this
    model, its default thresholds); returns the recipe's name for `station.recipe`."""
    package = ModelPackage.load(model_dir)
    target = data_dir / "models" / model_dir.name
    if not target.is_dir():
        shutil.copytree(model_dir, target)
    data = load_recipe(data_dir, "demo").model_dump(mode="json", exclude_none=True)
    t = package.manifest.thresholds
    data |= {"name": RECIPE, "description": f"hmi bench: {model_dir.name}",
             "model": {"name": model_dir.name, "sha256": package.sha256},
             "thresholds": {"version": 1, "score": round(t.score, 4), "hold_below": round(t.hold_below, 4),
                            "hold_above": round(t.hold_above, 4), "min_defect_area_px": t.min_defect_area_px}}
    save_recipe(data_dir, Recipe.model_validate(data))
    return RECIPE
