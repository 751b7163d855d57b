"""`hmi bench --frame-size`: high-resolution demo frames, tiled through the real demo model, figures reported.

Quick checks only (a few frames at a small 'high' size); the timing itself is measured by hand, see docs/models.md.
"""

from __future__ import annotations

import argparse
import math

import cv2
import numpy as np
import pytest

from hmi.bench.pipeline import HIRES_DEFECT_EVERY, hires_demo_frames, parse_frame_size, run_bench
from hmi.config.paths import shipped_models_dir
from hmi.inference.inspector import Inspector, read_image
from hmi.inference.package import ModelPackage


@pytest.fixture
def user_cache(tmp_path, monkeypatch):
    """The user's cache folder (bench frames, the emulator's BMP copies) redirected into the test's folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def test_bench_hires_frame_size_is_read_as_width_by_height():
    assert parse_frame_size("2448x2048") == (2448, 2048)
    assert parse_frame_size(" 640 X 512 ") == (640, 512)
    for text in ("2448", "2448x", "axb", "20x2048", "2448x99999"):
        with pytest.raises(argparse.ArgumentTypeError, match="write it like 2448x2048"):
            parse_frame_size(text)


def test_bench_hires_frames_are_rendered_once_at_the_size_asked(tmp_path):
    folder = hires_demo_frames(520, 400, count=8, cache_root=tmp_path)
    files = sorted(folder.glob("frame_*.png"))
    assert [f.name for f in files] == [f"frame_{i:03d}.png" for i in range(8)]
    images = [cv2.imread(str(f), cv2.IMREAD_UNCHANGED) for f in files]
    assert all(img.shape == (400, 520) and img.dtype == np.uint8 for img in images)
    assert len({img.tobytes() for img in images}) == 8  # every frame is a different part
    # The part is centred: the crop of a square render leaves the flange (bright) inside the frame.
    assert all(img[150:250, 210:310].mean() > 40 for img in images)
    stamps = [f.stat().st_mtime_ns for f in files]
    assert hires_demo_frames(520, 400, count=8, cache_root=tmp_path) == folder
    assert [f.stat().st_mtime_ns for f in files] == stamps  # reused, not rendered again
    assert not list(folder.parent.glob("*.partial"))
    assert HIRES_DEFECT_EVERY < 8  # the set above holds defective parts too


def test_bench_hires_tiles_are_batched_and_the_map_stitched_over_the_frame(tmp_path):
    frames = hires_demo_frames(640, 512, count=2, cache_root=tmp_path)
    package = ModelPackage.load(shipped_models_dir() / "demo-part")
    inspector = Inspector(package, provider="cpu", threads=1)
    result = inspector.inspect(read_image(frames / "frame_000.png"))
    tiled = inspector.tiled
    # Taught at scale 1: 640x512 in 512 px tiles overlapping by 64 px: 2 tiles (shrunk to 352 px wide), one run.
    assert (tiled.frames_run, tiled.model_runs, tiled.tiles_run) == (1, 1, 2)
    assert result.anomaly_map.shape == (512 // 8, 640 // 8)  # one map over the whole frame, 8 px cells
    assert np.isfinite(result.anomaly_map).all()
    assert result.score == pytest.approx(float(result.anomaly_map.max()))


@pytest.mark.slow
def test_bench_hires_run_reports_every_figure(tmp_path, user_cache):
    # a fixed batch: measured at start, the tiles a run would follow this machine's load
    result = run_bench(tmp_path / "data", ["inference.threads=1", "inference.batch=4"], frames=5, rounds=1,
                       frame_size=(640, 512))
    assert (result.frames, result.frame_size, result.backend) == (5, "640x512", "cpu-clusters")
    assert result.extra["backbone"] == "float"
    assert result.extra["tiling"] == "scale 1.000: 2 tiles of 352x512 (overlap 64 px) in 1 model runs of up to 4"
    assert result.extra["tiling_counted"].startswith("2.0 tiles and 1.0 model runs a frame (2.0 tiles a run)")
    assert result.extra["plc_written_parts"] == "5 of 5"
    assert int(result.extra["deadline_ms"].split()[0]) >= 2000
    assert result.not_inspected == 0
    assert result.machine_detail["backend"] == "cpu-clusters" and result.machine_detail["cores"] >= 1
    for value in (result.throughput_pipeline, result.throughput_model_only, result.ratio, result.latency_p50_ms,
                  result.latency_p99_ms, result.model_p50_ms, result.model_p99_ms):
        assert math.isfinite(value) and value > 0
    text = result.to_text()
    for key in ("ratio pipeline/model_only", "latency_p99_ms", "tiling_counted", "throughput_with_store_plc"):
        assert key in text
    assert (user_cache / "inspection-station" / "bench-frames" / "640x512-12").is_dir()


def test_bench_figures_carry_the_machine(tmp_path):
    from hmi.bench.pipeline import BenchResult, cpu_name, machine_figures

    detail = machine_figures("cpu")
    assert detail["cpu"] == cpu_name() and detail["cpu"].strip()
    assert detail["cores"] >= 1 and detail["backend"] == "cpu" and detail["onnxruntime"]
    result = BenchResult(frames=1, frame_size="384x384", backend="cpu", throughput_pipeline=1.0,
                         throughput_model_only=1.0, latency_p50_ms=1.0, latency_p99_ms=1.0, model_p50_ms=1.0,
                         model_p99_ms=1.0, ratio=1.0, not_inspected=0, machine="m", machine_detail=detail)
    import json

    assert json.loads(result.to_json())["machine_detail"] == detail


@pytest.mark.slow
def test_bench_line_model_is_taught_on_the_cameras_frames_in_a_folder_of_its_own(tmp_path, user_cache):
    station_dir = tmp_path / "data"
    result = run_bench(station_dir, ["inference.threads=1", "inference.batch=4"], frames=5, rounds=1,
                       frame_size=(640, 512), teach_size=256, with_outputs=False)
    # Taught on 640x512 frames at teach size 256: the line judges them at half scale, in one tile.
    assert result.extra["tiling"] == "scale 0.500: 1 tiles of 320x256 (overlap 32 px) in 1 model runs of up to 4"
    assert result.extra["model"].startswith("bench-640x512-48-good-t256: taught on 48 good parts rendered at 640x512")
    assert result.not_inspected == 0 and result.throughput_pipeline > 0
    models = user_cache / "inspection-station" / "bench-models"
    assert [p.name for p in models.iterdir()] == ["bench-640x512-48-good-t256"]
    good = sorted((user_cache / "inspection-station" / "bench-frames" / "640x512-48-good").glob("*.png"))
    assert len(good) == 48
    # The station's own folder gets no recipe or model from the bench.
    assert not (station_dir / "recipes" / "bench-line.toml").exists()
    assert not (station_dir / "models").exists()
    stamp = (models / "bench-640x512-48-good-t256" / "model.onnx").stat().st_mtime_ns
    run_bench(station_dir, ["inference.threads=1"], frames=2, rounds=1, frame_size=(640, 512), teach_size=256,
              with_outputs=False)
    assert (models / "bench-640x512-48-good-t256" / "model.onnx").stat().st_mtime_ns == stamp  # taught once


def test_bench_teach_size_without_a_frame_size_is_refused_in_plain_words(tmp_path, capsys):
    from hmi.cli.entry import main

    assert main(["bench", "--data-dir", str(tmp_path / "data"), "--teach-size", "512"]) == 2
    assert "--teach-size needs --frame-size" in capsys.readouterr().out


def test_the_demo_models_teach_frames_are_the_ones_build_demo_model_teaches_on(tmp_path, monkeypatch):
    from hmi.bench import pipeline
    from hmi.demo.dataset import write_dataset

    monkeypatch.setattr(pipeline, "DEMO_TEACH_IMAGES", 6)
    folder = pipeline.demo_teach_frames(tmp_path / "cache")
    written = write_dataset(tmp_path / "train", good=6, defective=0, seed=pipeline.DEMO_TEACH_SEED) / "good"
    ours, theirs = sorted(folder.glob("*.png")), sorted(written.glob("*.png"))
    assert [p.name for p in ours] == [p.name for p in theirs] and len(ours) == 6
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(ours, theirs))


@pytest.mark.slow
def test_bench_with_an_int8_backbone_judges_with_the_demo_model_taught_again(tmp_path, user_cache, monkeypatch):
    from hmi.bench import pipeline

    # The shipped model took 200: fewer keep the test short, but enough to hold back the 45 good parts that
    # show INT8 keeps the accuracy (teach_int8): with fewer, teach keeps float.
    monkeypatch.setattr(pipeline, "DEMO_TEACH_IMAGES", 46)
    result = run_bench(tmp_path / "data", ["inference.threads=1", "inference.batch=4"], frames=5, rounds=1,
                       with_outputs=False, backbone="int8")
    assert result.extra["backbone"] == "int8" and result.not_inspected == 0
    assert result.extra["model"].startswith("bench-demo-384-46-good-s1-t384-int8: the demo model taught again")
    models = user_cache / "inspection-station" / "bench-models"
    assert [p.name for p in models.iterdir()] == ["bench-demo-384-46-good-s1-t384-int8"]
    assert not list((tmp_path / "data").glob("recipes/bench-line*"))  # never a recipe in the station's own folder
