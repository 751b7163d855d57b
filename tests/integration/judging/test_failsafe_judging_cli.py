"""Issue 15 items 5 and 6 through the `hmi` command, as a subprocess: bad images never crash or block a command
or the line, a model package whose manifest does not describe its ONNX file and an infinite threshold are
refused with one line and exit code 2."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from hmi.config.loader import load_recipe, load_station, recipe_path, save_recipe
from hmi.store.database import database_path, open_database
from tests.support.tiny_model import build_tiny_model

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
ENV.pop("DISPLAY", None)
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")


def hmi(*args: str, data: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `hmi ARGS --data-dir DATA` as an operator would; a command that blocks fails the test by its timeout."""
    return subprocess.run([sys.executable, "-m", "hmi", *args, "--data-dir", str(data)], capture_output=True,
                          text=True, timeout=timeout, env=ENV)


def one_line_refusal(run: subprocess.CompletedProcess) -> str:
    """The single line of a command refused in plain words (exit code 2, no traceback)."""
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hmi: ") and "Traceback" not in run.stderr, run.stderr
    return lines[0]


def bomb_png() -> bytes:
    """A 74-byte-class PNG whose header claims 100000 x 100000 grey pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def station_on_tiny(tmp_path: Path, *, megapixels: float = 150.0) -> Path:
    """A data folder whose recipe 'tiny' judges with the tiny model (threshold 0.3), pixel limit `megapixels`."""
    data = tmp_path / "data"
    load_station(data)
    toml = data / "station.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(
        "max_image_megapixels = 150.0", f"max_image_megapixels = {megapixels}"), encoding="utf-8")
    build_tiny_model(data / "models" / "tiny")
    demo = load_recipe(data, "demo")
    save_recipe(data, demo.model_copy(update={
        "name": "tiny", "roi": demo.roi.model_copy(update={"rectangles": [], "polygons": []}),
        "model": demo.model.model_copy(update={"name": "tiny", "sha256": ""}),
        "thresholds": demo.thresholds.model_copy(update={"score": 0.3, "hold_below": 0.05, "hold_above": 0.05})}))
    return data


def mismatched_package(folder: Path) -> Path:
    """The tiny model (64 x 64 input) with a manifest that says 256 x 256."""
    build_tiny_model(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["input"].update(width=256, height=256)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def grey(size: int, value: int = 128, deep: bool = False) -> np.ndarray:
    """A flat grey frame (scores 0 on the tiny model at 128), optionally as 16 bits with the same upper byte."""
    image = np.full((size, size), value, np.uint8)
    return image.astype(np.uint16) << 8 | 0x5A if deep else image


@needs_fifo
def test_inspect_judges_every_real_image_and_skips_pipes_folders_bombs_and_oversized_ones_with_a_reason(tmp_path):
    data = station_on_tiny(tmp_path, megapixels=0.005)      # 5000 pixels: 64 x 64 frames fit, 96 x 96 do not
    images = tmp_path / "images"
    (images / "y.png").mkdir(parents=True)                   # a folder called y.png, holding one frame
    cv2.imwrite(str(images / "a_good.png"), grey(64))
    cv2.imwrite(str(images / "b_deep.png"), grey(64, deep=True))
    (images / "c_bomb.png").write_bytes(bomb_png())
    cv2.imwrite(str(images / "d_large.png"), grey(96))
    os.mkfifo(images / "x.png")
    cv2.imwrite(str(images / "y.png" / "z.png"), grey(64))
    out = tmp_path / "out.csv"

    run = hmi("inspect", str(images), "--csv", str(out), "--recipe", "tiny", data=data)
    assert run.returncode == 0, run.stderr
    rows = {Path(r["path"]).relative_to(images).as_posix(): r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert list(rows) == ["a_good.png", "b_deep.png", "c_bomb.png", "d_large.png", "y.png/z.png"]
    assert [rows[k]["verdict"] for k in rows] == ["OK", "OK", "NOT_INSPECTED", "NOT_INSPECTED", "OK"]
    assert rows["b_deep.png"]["score"] == rows["a_good.png"]["score"]   # 16 bits: the same frame, the same score
    assert "claims 100000 x 100000 pixels" in rows["c_bomb.png"]["reason"]
    assert "claims 96 x 96 pixels, more than the 0.005 megapixels" in rows["d_large.png"]["reason"]
    assert f"hmi: skipped {images / 'x.png'}: a named pipe, not an image file" in run.stderr
    assert f"hmi: skipped {images / 'y.png'}: a folder, not an image file" in run.stderr
    assert "2 entries named like images were skipped" in run.stderr


@needs_fifo
def test_teach_reads_16_bit_images_as_inspect_does_and_names_what_it_skipped(tmp_path):
    data = station_on_tiny(tmp_path, megapixels=0.005)
    good = tmp_path / "good"
    good.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        noisy = (np.full((64, 64), 120) + rng.integers(0, 8, (64, 64))).astype(np.uint16) << 8
        cv2.imwrite(str(good / f"part_{i:02d}.png"), noisy)
    os.mkfifo(good / "x.png")
    (good / "y.png").mkdir()
    (good / "z_bomb.png").write_bytes(bomb_png())
    cv2.imwrite(str(good / "z_large.png"), grey(96))

    run = hmi("teach", "--good", str(good), "--out", str(tmp_path / "taught"), data=data)
    assert run.returncode == 0, run.stderr
    assert "from 10 good images" in run.stdout and "Skipped 4 file(s):" in run.stdout
    assert "x.png: is not an image file (it is a named pipe)" in run.stdout
    assert "y.png: is not an image file (it is a folder)" in run.stdout
    assert "z_bomb.png: claims 100000 x 100000 pixels" in run.stdout
    assert "z_large.png: claims 96 x 96 pixels, more than the 0.005 megapixels" in run.stdout


def test_the_line_keeps_judging_when_its_replay_folder_holds_a_bomb(tmp_path):
    data = station_on_tiny(tmp_path)
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "a_good.png"), grey(64))
    (frames / "b_bomb.png").write_bytes(bomb_png())
    cv2.imwrite(str(frames / "c_good.png"), grey(64))

    run = hmi("run", "--headless", "--max-parts", "6", "--set", "station.recipe=tiny", "--set", "plc.mode=off",
              "--set", "camera.kind=replay", "--set", f"camera.replay_path={frames}", "--set", "camera.rate_hz=0",
              data=data)
    assert run.returncode == 0, run.stderr
    with sqlite3.connect(database_path(data)) as conn:
        parts = conn.execute("SELECT verdict, reason FROM inspections ORDER BY seq").fetchall()
    assert [v for v, _ in parts] == ["OK", "NOT_INSPECTED", "OK"] * 2     # the capture thread lived on
    assert "claims 100000 x 100000 pixels" in parts[1][1]


def test_a_package_whose_manifest_does_not_describe_its_onnx_file_is_refused_at_import_inspect_and_start(tmp_path):
    data = station_on_tiny(tmp_path)
    bad = mismatched_package(tmp_path / "bad")
    said = "the manifest says input 3×256×256 (NHWC uint8), the ONNX file expects 3×64×64 (NHWC uint8)"

    imported = hmi("model", "import", str(bad), "--out", str(data / "models" / "bad"), data=data)
    assert said in one_line_refusal(imported) and not (data / "models" / "bad").exists()
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), grey(64))
    inspected = hmi("inspect", str(image), "--model", str(bad), "--csv", str(tmp_path / "o.csv"), data=data)
    assert said in one_line_refusal(inspected)

    shutil.rmtree(data / "models" / "tiny")
    shutil.copytree(bad, data / "models" / "tiny")               # the recipe's own model, replaced behind its back
    started = hmi("run", "--headless", "--max-parts", "1", "--set", "station.recipe=tiny", "--set", "plc.mode=off",
                  "--set", "camera.kind=replay", "--set", f"camera.replay_path={image}", data=data)
    assert said in one_line_refusal(started)

    good = build_tiny_model(tmp_path / "good")                    # a package that fits is copied in, checked
    copied = hmi("model", "import", str(good), "--out", str(data / "models" / "good"), data=data)
    assert copied.returncode == 0, copied.stderr
    assert "imported 'tiny' as anomaly: input 64x64" in copied.stdout


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_a_recipe_file_with_a_threshold_that_is_no_finite_number_is_refused_in_one_line(tmp_path, value):
    data = station_on_tiny(tmp_path)
    path = recipe_path(data, "tiny")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("score = 0.3\n", f"score = {value}\n"), encoding="utf-8")
    assert f"score = {value}\n" in path.read_text(encoding="utf-8")
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), grey(64))
    expected = f"key 'thresholds.score': Input should be a finite number, got {value.lstrip('-')}"

    inspected = hmi("inspect", str(image), "--recipe", "tiny", "--csv", str(tmp_path / "o.csv"), data=data)
    assert expected in one_line_refusal(inspected).replace("got -inf", "got inf")
    open_database(database_path(data)).close()   # `thresholds suggest` reads the records
    suggested = hmi("thresholds", "suggest", "--recipe", "tiny", data=data)
    assert expected in one_line_refusal(suggested).replace("got -inf", "got inf")


def test_a_threshold_outside_the_models_score_range_is_refused_at_start(tmp_path):
    data = station_on_tiny(tmp_path)
    recipe = load_recipe(data, "tiny")
    save_recipe(data, recipe.model_copy(update={"thresholds": recipe.thresholds.model_copy(update={"score": -1.0})}))
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), grey(64))
    started = hmi("run", "--headless", "--max-parts", "1", "--set", "station.recipe=tiny", "--set", "plc.mode=off",
                  "--set", "camera.kind=replay", "--set", f"camera.replay_path={image}", data=data)
    assert ("recipe 'tiny', threshold version 1: threshold -1 is outside the scores model 'tiny' gives (0 and up)"
            in one_line_refusal(started))
