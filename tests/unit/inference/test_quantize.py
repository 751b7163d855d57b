"""The INT8 backbone: calibrated on the taught parts' own tiles, close to the float backbone, taught end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from hmi.core.errors import ModelError
from hmi.inference import scoring_graph as sg
from hmi.inference.geometry import Geometry, plan
from hmi.inference.package import ModelPackage
from hmi.inference.quantize import calibration_tiles, quantize_backbone
from hmi.inference.teach import teach
from tests.unit.inference.test_teach_package import SIZE, part_image, write_parts


def textured(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """A grey part-like image: smooth shading, a disc and sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    img = 90 + 40 * np.sin(xx / 17.0 + seed) * np.cos(yy / 23.0) + rng.normal(0, 6, shape)
    img[(xx - shape[1] / 2) ** 2 + (yy - shape[0] / 2) ** 2 < (min(shape) / 3) ** 2] += 60
    return np.clip(img, 0, 255).astype(np.uint8)


def test_calibration_tiles_are_model_size_tiles_from_every_image_and_place() -> None:
    geometry = Geometry(scale=0.5, tile=256, overlap=64)
    images = [textured(i, (1000, 800)) for i in range(3)]
    tiles = calibration_tiles(images, geometry, count=8)
    tile_plan = plan(geometry, (1000, 800))
    assert len(tiles) == 8
    assert {t.shape for t in tiles} == {(*tile_plan.tile, 3)} and {t.dtype for t in tiles} == {np.dtype(np.uint8)}
    assert len({t.tobytes() for t in tiles}) == 8  # eight different places, none taken twice
    # More images than tiles wanted: one tile each from images spread over the whole list.
    assert len(calibration_tiles([textured(i, (300, 300)) for i in range(50)], geometry, count=8)) == 8
    assert calibration_tiles([], geometry) == []


def _features(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def test_the_int8_backbone_keeps_the_float_backbones_features() -> None:
    backbone = sg.load_backbone()
    geometry = Geometry(scale=1.0, tile=128, overlap=32)
    tiles = calibration_tiles([textured(i, (128, 128)) for i in range(8)], geometry)
    int8 = quantize_backbone(backbone, tiles)
    ops = {n.op_type for n in int8.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert {o.domain for o in int8.opset_import} <= {"", "ai.onnx"}  # the scoring graph's check accepts it
    assert [o.name for o in int8.graph.output] == [o.name for o in backbone.graph.output]
    x = textured(99, (128, 128))  # a part not among the calibration tiles
    x = (np.repeat(x[None, None], 3, axis=1).astype(np.float32) / 127.5 - 1.0).astype(np.float32)
    for name, f, q in zip([o.name for o in backbone.graph.output], _features(backbone, x), _features(int8, x)):
        assert f.shape == q.shape, name
        cosine = float((f * q).sum() / np.sqrt((f * f).sum() * (q * q).sum()))
        assert cosine > 0.95, (name, cosine)
        assert not np.array_equal(f, q)  # quantised, not the float graph again


def test_no_tile_to_calibrate_on_is_refused_in_plain_words() -> None:
    with pytest.raises(ModelError, match="calibrate the INT8 backbone"):
        quantize_backbone(sg.load_backbone(), [])


# Enough good parts to hold back as many as a reliable threshold needs (45 at the 1 % target): fewer, and
# teach cannot show that INT8 keeps the accuracy, so it teaches float (test below).
VERIFIABLE = range(48)


@pytest.mark.parametrize("precision", ["int8", "float"])
def test_teach_builds_the_bank_with_the_backbone_it_ships(tmp_path: Path, precision: str) -> None:
    paths = write_parts(tmp_path / "good", VERIFIABLE)
    fractions: list[float] = []
    report = teach(paths, tmp_path / "models" / "disc", name="disc", input_size=SIZE, seed=1, backbone=precision,
                   progress=lambda text, fraction: fractions.append(fraction))
    assert fractions == sorted(fractions)  # the float features and the INT8 ones share the features stage
    package = ModelPackage.load(report.model_dir, expect_sha256=report.sha256)
    assert package.manifest.extra["backbone_precision"] == precision
    ops = {n.op_type for n in onnx.load(str(report.model_dir / "model.onnx")).graph.node}
    assert ("QuantizeLinear" in ops) == (precision == "int8")
    if precision == "int8":
        check = report.int8_check
        assert check is not None and check.kept and check.heldout == len(VERIFIABLE)
        assert package.manifest.extra["int8_check_kept"] == 1.0
        assert "INT8 keeps the accuracy on the 48 held-out good parts" in report.summary()
    else:
        assert report.int8_check is None and "int8_check_kept" not in package.manifest.extra
    from hmi.inference.inspector import Inspector

    inspector = Inspector(package)
    good = inspector.inspect(part_image(100))
    bad = inspector.inspect(part_image(100, defect=True))
    assert bad.score > report.threshold > good.score


def test_int8_asked_for_with_too_few_parts_to_check_it_teaches_the_float_model_and_says_why(tmp_path: Path) -> None:
    paths = write_parts(tmp_path / "good", range(12))
    fractions: list[float] = []
    texts: list[str] = []

    def progress(text: str, fraction: float) -> None:
        texts.append(text)
        fractions.append(fraction)

    report = teach(paths, tmp_path / "models" / "disc", name="disc", input_size=SIZE, seed=1, backbone="int8",
                   progress=progress)
    float_report = teach(paths, tmp_path / "models" / "plain", name="plain", input_size=SIZE, seed=1)
    assert report.backbone == "float" and report.int8_check is not None and not report.int8_check.kept
    package = ModelPackage.load(report.model_dir, expect_sha256=report.sha256)
    assert package.manifest.extra["backbone_precision"] == "float"
    assert package.manifest.extra["int8_check_kept"] == 0.0
    assert "QuantizeLinear" not in {n.op_type for n in onnx.load(str(report.model_dir / "model.onnx")).graph.node}
    # The same model a float teach builds: the same bank, the same default thresholds.
    assert report.threshold == float_report.threshold
    assert report.heldout_scores == float_report.heldout_scores
    assert ("INT8 was asked for but taught with the float backbone: only 12 good parts could be held back, and "
            "showing that INT8 keeps the accuracy needs 45") in report.summary()
    refused = texts.index("INT8 does not keep this product's accuracy: teaching with the float backbone")
    assert fractions[refused] < fractions[refused - 1]  # the checking stage runs again, for the float model
    assert fractions[refused:] == sorted(fractions[refused:]) and fractions[-1] == 1.0


def test_teach_and_evaluate_take_the_int8_backbone_from_the_command_line_and_the_recipe(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    import cv2

    for folder, seeds, defect in (("train/good", VERIFIABLE, False), ("test/good", range(50, 54), False),
                                  ("test/defect", range(60, 64), True)):
        (tmp_path / "set" / folder).mkdir(parents=True)
        for seed in seeds:
            cv2.imwrite(str(tmp_path / "set" / folder / f"part_{seed:03d}.png"), part_image(seed, defect))

    def hmi(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hmi", *args, "--data-dir", str(tmp_path / "data")],
                              capture_output=True, text=True, timeout=300)

    run = hmi("teach", "--good", str(tmp_path / "set" / "train" / "good"), "--out", str(tmp_path / "taught"),
              "--input-size", str(SIZE), "--backbone", "int8")
    assert run.returncode == 0, run.stderr
    assert "from the INT8 backbone calibrated on these images" in run.stdout
    assert ModelPackage.load(tmp_path / "taught").manifest.extra["backbone_precision"] == "int8"
    # A recipe's [teach] backbone is taken with --recipe, unless --backbone says otherwise.
    from hmi.config.loader import load_recipe, load_station, save_recipe

    load_station(tmp_path / "data")
    demo = load_recipe(tmp_path / "data", "demo")
    save_recipe(tmp_path / "data", demo.model_copy(update={"name": "discs",
                                                            "teach": demo.teach.model_copy(update={"backbone": "int8"})}))
    for given, taught in ((), "int8"), (("--backbone", "float"), "float"):
        out = tmp_path / f"from-recipe-{taught}"
        run = hmi("teach", "--good", str(tmp_path / "set" / "train" / "good"), "--out", str(out),
                  "--input-size", str(SIZE), "--recipe", "discs", *given)
        assert run.returncode == 0, run.stderr
        assert ModelPackage.load(out).manifest.extra["backbone_precision"] == taught
    run = hmi("evaluate", str(tmp_path / "set"), "--teach-size", str(SIZE), "--backbone", "int8",
              "--work", str(tmp_path / "work"), "--json", str(tmp_path / "figures.json"))
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "figures.json").read_text())["auroc"] == 1.0  # the gashes stand out
    evaluated = ModelPackage.load(tmp_path / "work" / "model-set")
    assert evaluated.manifest.extra["backbone_precision"] == "int8"


def test_the_station_and_teach_load_without_the_quantisation_tools() -> None:
    """Only teaching with the INT8 backbone loads ONNX Runtime's quantisation tools (they need files a frozen
    bundle must be told of: installer/hmi.spec), so a station that never teaches INT8 never depends on them."""
    import subprocess
    import sys

    code = ("import sys, hmi.inference.teach, hmi.inference.loading, hmi.changes.teaching, hmi.ui.screens.teach; "
            "print('onnxruntime.quantization' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
