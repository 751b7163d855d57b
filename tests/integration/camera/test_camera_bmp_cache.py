"""The emulated camera replays BMP copies of PNG frames (cheaper to decode), pixel for pixel."""

from __future__ import annotations

import cv2
import numpy as np

from hmi.camera.factory import uncompressed_copy


def test_bmp_copies_match_the_pngs_and_are_reused(tmp_path, make_frames):
    frames = make_frames(tmp_path / "png", ["b.png", "a.png"])
    out = uncompressed_copy(tmp_path / "png", cache_root=tmp_path / "cache")
    assert sorted(p.name for p in out.iterdir()) == ["a.bmp", "b.bmp"]
    for name, img in frames.items():
        assert np.array_equal(cv2.imread(str(out / name.replace(".png", ".bmp")), cv2.IMREAD_UNCHANGED), img)
    stamp = (out / "a.bmp").stat().st_mtime_ns
    assert uncompressed_copy(tmp_path / "png", cache_root=tmp_path / "cache") == out
    assert (out / "a.bmp").stat().st_mtime_ns == stamp


def test_folder_without_pngs_is_used_as_it_is(tmp_path, make_frames):
    make_frames(tmp_path / "bmp", ["a.bmp"])
    assert uncompressed_copy(tmp_path / "bmp", cache_root=tmp_path / "cache") == tmp_path / "bmp"
