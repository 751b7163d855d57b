"""Fixtures for the camera tests: folders of distinct test frames written with OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def frame_pattern(index: int, width: int = 384, height: int = 384) -> np.ndarray:
    """A Mono8 frame whose every pixel depends on its position and `index`, so crops and order show."""
    yy, xx = np.mgrid[0:height, 0:width]
    return ((xx * 7 + yy * 13 + index * 41) % 251).astype(np.uint8)


def write_frames(folder: Path, names: list[str], width: int = 384, height: int = 384) -> dict[str, np.ndarray]:
    """Write one distinct pattern per name (in the order given) and return them by name."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = {}
    for index, name in enumerate(names):
        frames[name] = frame_pattern(index, width, height)
        assert cv2.imwrite(str(folder / name), frames[name])
    return frames


@pytest.fixture
def make_frames():
    """The frame writer, for tests that need their own names or sizes."""
    return write_frames


@pytest.fixture
def frames_dir(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    """Four 384x384 PNG frames written out of name order; returns the folder and the frames in name order."""
    folder = tmp_path / "frames"
    frames = write_frames(folder, ["part_c.png", "part_a.png", "part_d.png", "part_b.png"])
    return folder, [frames[name] for name in sorted(frames)]
