"""Model packages and the Inspector on a real (tiny) ONNX Runtime session."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from hmi.core.errors import ImageError, ModelError
from hmi.inference.inspector import Inspector, read_image
from hmi.inference.package import ModelPackage
from tests.support.tiny_model import frame_with_spot, plain_frame


def test_clean_part_scores_low_and_has_no_regions(tiny_model):
    ins = Inspector(ModelPackage.load(tiny_model), provider="cpu")
    result = ins.inspect(plain_frame())
    assert result.score == pytest.approx(0.0, abs=1e-6)
    assert result.regions == ()
    assert result.backend == "cpu"


def test_spot_gives_region_at_the_right_place(tiny_model):
    ins = Inspector(ModelPackage.load(tiny_model), provider="cpu")
    result = ins.inspect(frame_with_spot(box=(48, 24, 24, 24)))
    assert result.score > 0.5
    r = result.regions[0]
    # the region is found where the spot is (map cells are 12 frame pixels; allow one cell)
    assert abs(r.x - 48) <= 12 and abs(r.y - 24) <= 12 and r.area_px > 200
    assert result.anomaly_map.shape == (8, 8)


def test_roi_excludes_defects_outside_it(tiny_model):
    ins = Inspector(ModelPackage.load(tiny_model), provider="cpu", roi_rectangles=[(0, 0, 40, 96)])
    result = ins.inspect(frame_with_spot(box=(60, 60, 24, 24)))
    assert result.regions == ()
    assert result.score < 0.3


def test_altered_model_is_refused(tiny_model):
    onnx_file = tiny_model / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    with pytest.raises(ModelError, match="altered or damaged"):
        ModelPackage.load(tiny_model)


def test_missing_manifest_is_refused(tiny_model):
    (tiny_model / "manifest.json").unlink()
    with pytest.raises(ModelError, match="has no manifest.json"):
        ModelPackage.load(tiny_model)


def test_recipe_hash_mismatch_is_refused(tiny_model):
    with pytest.raises(ModelError, match="recipe expects"):
        ModelPackage.load(tiny_model, expect_sha256="a" * 64)


def test_garbage_onnx_with_matching_hash_is_refused_in_plain_words(tiny_model):
    from hmi.inference.package import file_sha256

    (tiny_model / "model.onnx").write_bytes(b"this is not a model")
    m = json.loads((tiny_model / "manifest.json").read_text())
    m["sha256"] = file_sha256(tiny_model / "model.onnx")
    (tiny_model / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        Inspector(ModelPackage.load(tiny_model), provider="cpu")


def test_corrupt_and_wrong_images_are_reported(tmp_path, tiny_model):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ImageError, match="cannot be read"):
        read_image(bad)
    ins = Inspector(ModelPackage.load(tiny_model), provider="cpu")
    with pytest.raises(ImageError, match="pixel type"):
        ins.inspect(np.zeros((64, 64), np.float32))
    with pytest.raises(ImageError, match="only 8x8"):
        ins.inspect(np.zeros((8, 8), np.uint8))


def test_sixteen_bit_image_is_scaled(tmp_path):
    p = tmp_path / "deep.png"
    cv2.imwrite(str(p), (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16))
    img = read_image(p)
    assert img.dtype == np.uint8 and img.max() == 255
