"""A data directory with a recipe on the tiny model, and folders of frames for the emulated camera."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from hmi.config.loader import load_recipe, load_station, save_recipe
from tests.support.tiny_model import build_tiny_model, frame_with_spot, plain_frame


def write_line_frames(folder: Path, good: int = 6, bad: int = 2, size: int = 96) -> Path:
    """Same-size Mono8 frames: `good` flat grey ones, then `bad` with a bright spot."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(good):
        cv2.imwrite(str(folder / f"a{i:03d}.png"), plain_frame(size))
    for i in range(bad):
        cv2.imwrite(str(folder / f"b{i:03d}.png"), frame_with_spot(size))
    return folder


@pytest.fixture
def line(tmp_path):
    """(data_dir, frames_dir): a station data dir whose active recipe 'tiny' uses the tiny model."""
    data = tmp_path / "data"
    load_station(data)
    build_tiny_model(data / "models" / "tiny")
    demo = load_recipe(data, "demo")
    save_recipe(data, demo.model_copy(update={
        "name": "tiny",
        "model": demo.model.model_copy(update={"name": "tiny", "sha256": ""}),
        "thresholds": demo.thresholds.model_copy(update={"score": 0.3, "hold_below": 0.05, "hold_above": 0.05}),
    }))
    frames = write_line_frames(tmp_path / "frames")
    return data, frames


@pytest.fixture
def demo_model_dir(tmp_path):
    """A copy of the shipped demo model (the real EfficientNet-Lite0 scoring graph)."""
    from hmi.config.paths import shipped_models_dir

    dst = tmp_path / "demo-part"
    shutil.copytree(shipped_models_dir() / "demo-part", dst)
    return dst
