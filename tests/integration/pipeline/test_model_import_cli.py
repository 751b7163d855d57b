"""`hmi model import` then `hmi inspect`: an imported model judges image files as its ONNX file encodes."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from hmi.cli import main
from hmi.core.errors import ModelError
from hmi.inference.package import ModelPackage
from hmi.cli import model as model_cli
from tests.unit.inference.test_adapters_kinds import (DETECT_BOXES, DETECT_NAMES, build_anomalib, build_unrelated,
                                                      build_yolo_detect)


def _model_command(argv: list[str], data_dir: Path) -> int:
    """Parse and run a `model ...` command line as the station's CLI does."""
    parser = argparse.ArgumentParser(prog="hmi")
    sub = parser.add_subparsers(dest="command")
    model_cli.register(sub)
    args = parser.parse_args(argv)
    return args.handler(args, data_dir)


def _inspect(images: list[Path], model: Path, tmp_path: Path) -> list[dict[str, str]]:
    out = tmp_path / "out.csv"
    assert main(["inspect", *map(str, images), "--model", str(model), "--csv", str(out),
                 "--data-dir", str(tmp_path / "data")]) == 0
    return list(csv.DictReader(out.open(encoding="utf-8")))


def test_imported_detector_judges_images_as_the_file_encodes(tmp_path, capsys):
    onnx_file = build_yolo_detect(tmp_path / "export" / "best.onnx", DETECT_NAMES, DETECT_BOXES)
    assert _model_command(["model", "import", str(onnx_file), "--out", str(tmp_path / "models" / "scratches"),
                           "--name", "scratches"], tmp_path / "data") == 0
    said = capsys.readouterr().out
    assert "imported 'scratches' as yolo_detect" in said and "counted as defects: scratch, dent" in said
    package = ModelPackage.load(tmp_path / "models" / "scratches")
    assert package.onnx_path.read_bytes() == onnx_file.read_bytes()

    bad, good = tmp_path / "bad.png", tmp_path / "good.png"
    cv2.imwrite(str(bad), np.full((480, 640, 3), 255, np.uint8))  # letterboxed: 80 grey rows above and below
    cv2.imwrite(str(good), np.full((640, 640), 30, np.uint8))
    rows = {Path(r["path"]).name: r for r in _inspect([bad, good], package.folder, tmp_path)}
    assert rows["good.png"]["verdict"] == "OK" and json.loads(rows["good.png"]["regions"]) == []
    assert rows["bad.png"]["verdict"] == "NG" and float(rows["bad.png"]["score"]) == pytest.approx(0.9)
    (region,) = json.loads(rows["bad.png"]["regions"])
    # input box x 270-370, y 140-180; the frame is scaled by 1 with 80 rows of padding on top
    assert (region["label"], region["x"], region["y"], region["w"], region["h"]) == ("scratch", 270, 60, 100, 40)
    assert rows["bad.png"]["model_sha256"] == package.sha256


def test_imported_anomalib_model_finds_the_spot(tmp_path):
    onnx_file = build_anomalib(tmp_path / "export" / "model.onnx")
    assert _model_command(["model", "import", str(onnx_file), "--out", str(tmp_path / "m")], tmp_path / "data") == 0
    img = np.full((128, 128, 3), 128, np.uint8)
    img[64:96, 16:48] = 255
    path = tmp_path / "spot.png"
    cv2.imwrite(str(path), img)
    (row,) = _inspect([path], tmp_path / "m", tmp_path)
    assert row["verdict"] == "NG"
    (region,) = json.loads(row["regions"])
    assert abs(region["x"] - 16) <= 2 and abs(region["y"] - 64) <= 2 and region["label"] == "anomaly"


def test_unrelated_onnx_is_refused_with_its_shapes(tmp_path):
    onnx_file = build_unrelated(tmp_path / "mlp.onnx")
    with pytest.raises(ModelError) as err:
        _model_command(["model", "import", str(onnx_file), "--out", str(tmp_path / "m")], tmp_path / "data")
    assert "inputs x[1,10] float; outputs y[1,10] float" in str(err.value)
    assert not (tmp_path / "m").exists()


def test_import_into_an_existing_model_folder_is_refused(tmp_path):
    onnx_file = build_anomalib(tmp_path / "export" / "model.onnx")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "manifest.json").write_text("{}")
    with pytest.raises(ModelError, match="already exists"):
        _model_command(["model", "import", str(onnx_file), "--out", str(tmp_path / "m")], tmp_path / "data")
    assert (tmp_path / "m" / "manifest.json").read_text() == "{}"


def test_anomalib_patchcore_export_imports_in_one_command_and_inspects(tmp_path, capsys):
    """anomalib 2.7's default export: model.onnx + model.onnx.data, batch fixed at 2, resize inside the graph."""
    from tests.support.export_compare import FIXTURES, predictions
    from tests.support.export_scenes import eval_images

    assert _model_command(["model", "import", str(FIXTURES / "patchcore" / "model.onnx"),
                           "--out", str(tmp_path / "models" / "pc")], tmp_path / "data") == 0
    said = capsys.readouterr().out
    assert "imported 'pc' as anomalib" in said and "batch is fixed at 2" in said and "no HOLD band" in said
    paths = []
    for i, img in enumerate(eval_images()[:6]):  # 480x320 parts, two of them good
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), img[:, :, ::-1])
    rows = _inspect(paths, tmp_path / "models" / "pc", tmp_path)
    theirs = predictions("patchcore")["onnx_scores"][:6]
    assert [float(r["score"]) for r in rows] == pytest.approx(theirs, abs=1e-3)
    assert [r["verdict"] for r in rows] == ["NG" if s >= 0.5 else "OK" for s in theirs]
