"""Issue 15 item 6: a manifest that does not describe its ONNX file is refused before the first frame, naming
the mismatch; thresholds must be finite and inside the model's score range. Real ONNX files, run by ONNX
Runtime (the tiny anomaly model and the adapters' exports)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest

from hmi.core.errors import ModelError
from hmi.decision.policy import ThresholdSet
from hmi.inference.importer import import_model
from hmi.inference.inspector import Inspector
from hmi.inference.package import ModelPackage, file_sha256, score_range, threshold_problem
from tests.support.tiny_model import build_tiny_model
from tests.unit.inference.test_adapters_kinds import DETECT_BOXES, build_classifier, build_yolo_detect


def edit_manifest(folder: Path, **changes) -> Path:
    """Change top-level or dotted ('input.width') manifest keys, as someone editing the file by hand would."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        *parents, last = key.split("__")
        node = manifest
        for p in parents:
            node = node[p]
        node[last] = value
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def with_batch(folder: Path, batch: int) -> Path:
    """The tiny model's ONNX file with its batch dimension fixed at `batch` (manifest hash updated to match)."""
    model = onnx.load(str(folder / "model.onnx"))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = batch
    onnx.save(model, str(folder / "model.onnx"))
    return edit_manifest(folder, sha256=file_sha256(folder / "model.onnx"))


def refusal(folder: Path) -> str:
    """The one message a station gives for the package: loading it as every judging path does."""
    with pytest.raises(ModelError) as err:
        Inspector(ModelPackage.load(folder), provider="cpu", threads=1)
    assert "hmi model import" in err.value.todo
    return err.value.what


@pytest.mark.parametrize(("change", "said"), [
    ({"input__width": 256, "input__height": 256},
     "the manifest says input 3×256×256 (NHWC uint8), the ONNX file expects 3×64×64 (NHWC uint8)"),
    ({"input__color": "GRAY", "input__channels": 1},
     "the manifest says input 1×64×64 (NHWC uint8), the ONNX file expects 3×64×64 (NHWC uint8)"),
    ({"input__color": "GRAY"}, "the manifest says 3 channel(s) but colour GRAY, which is 1"),
    ({"input__dtype": "float32"},
     "the manifest says input 3×64×64 (NHWC float32), the ONNX file expects 3×64×64 (NHWC uint8)"),
    ({"input__layout": "NCHW"},
     "the manifest says input 3×64×64 (NCHW uint8), the ONNX file expects 64×64×3 (NCHW uint8)"),
    ({"input__name": "pixels"}, "the manifest names the input 'pixels', the ONNX file's input is 'image'"),
    ({"outputs": {"score": "score", "anomaly_map": "heatmap"}},
     "the ONNX file has no output 'heatmap' (anomaly_map); its outputs are score, anomaly_map"),
    ({"geometry": {"scale": 1.0, "tile": 512, "overlap": 64, "teach_size": 64}},
     "the manifest judges frames in tiles of any size (geometry), but the ONNX file takes only 64×64 images"),
])
def test_a_manifest_that_disagrees_with_its_onnx_file_is_refused_naming_the_mismatch(tmp_path, change, said):
    folder = edit_manifest(build_tiny_model(tmp_path / "tiny"), **change)
    what = refusal(folder)
    assert what.startswith("model 'tiny' does not match its ONNX file: ") and said in what


def test_a_batch_dimension_fixed_at_another_value_is_refused(tmp_path):
    assert "the ONNX file's batch dimension is fixed at 4; the station judges one image at a time" in refusal(
        with_batch(build_tiny_model(tmp_path / "four"), 4))
    Inspector(ModelPackage.load(with_batch(build_tiny_model(tmp_path / "one"), 1)), provider="cpu", threads=1)
    tiles = edit_manifest(with_batch(build_tiny_model(tmp_path / "tiles"), 1),
                          geometry={"scale": 1.0, "tile": 512, "overlap": 64, "teach_size": 64})
    assert "batch dimension is fixed at 1, but tiles are judged several at a time" in refusal(tiles)


def test_the_adapters_outputs_are_checked_against_the_classes_the_manifest_names(tmp_path):
    classifier = import_model(build_classifier(tmp_path / "cls.onnx"), tmp_path / "cls").folder
    edit_manifest(classifier, class_names=["good", "scratch"])
    assert "the ONNX file gives 3 classes, the manifest names 2" in refusal(classifier)
    detector = import_model(build_yolo_detect(tmp_path / "det.onnx", ["good", "scratch", "dent"], DETECT_BOXES),
                            tmp_path / "det").folder
    edit_manifest(detector, class_names=["good", "scratch", "dent", "crack"])
    assert "the detections hold 7 values an anchor, the manifest's 4 classes need 4 + 4" in refusal(detector)


def test_a_fitting_package_judges_and_a_runtime_failure_is_a_plain_model_error(tmp_path):
    inspector = Inspector(ModelPackage.load(build_tiny_model(tmp_path / "tiny")), provider="cpu", threads=1)
    assert inspector.inspect(np.full((64, 64), 128, np.uint8)).score == pytest.approx(0.0)
    with pytest.raises(ModelError, match=r"ONNX Runtime cannot run model.onnx on image 1×64×64×3 float32"):
        inspector.session.run({"image": np.zeros((1, 64, 64, 3), np.float32)})


def test_score_ranges_come_from_the_manifest_or_else_the_kind(tmp_path):
    tiny = ModelPackage.load(build_tiny_model(tmp_path / "tiny")).manifest
    assert score_range(tiny) == (0.0, math.inf)
    classifier = import_model(build_classifier(tmp_path / "cls.onnx"), tmp_path / "cls").manifest
    assert score_range(classifier) == (0.0, 1.0)
    assert threshold_problem(1.5, 0.0, 0.0, classifier) == "threshold 1.5 is outside the scores model 'cls' gives (0 to 1)"
    assert "the NG limit 1.1 (threshold + HOLD band above) is above the highest score" in threshold_problem(
        0.9, 0.0, 0.2, classifier)
    assert threshold_problem(0.5, 0.1, 0.0, classifier) == threshold_problem(0.0, 0.0, 0.0, tiny) == ""
    declared = ModelPackage.load(edit_manifest(build_tiny_model(tmp_path / "declared"),
                                               score_range={"low": 0.0, "high": 40.0})).manifest
    assert score_range(declared) == (0.0, 40.0) and "(0 to 40)" in threshold_problem(50.0, 0, 0, declared)


@pytest.mark.parametrize("text", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_a_manifest_with_thresholds_that_are_no_finite_number_is_refused(tmp_path, text):
    folder = build_tiny_model(tmp_path / "tiny")
    path = folder / "manifest.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"score": 0.3', f'"score": {text}'), encoding="utf-8")
    with pytest.raises(ModelError, match="is not a valid manifest.*finite number"):
        ModelPackage.load(folder)


def test_a_manifest_whose_default_threshold_lies_outside_its_scores_is_refused(tmp_path):
    classifier = import_model(build_classifier(tmp_path / "cls.onnx"), tmp_path / "cls").folder
    edit_manifest(classifier, thresholds__score=5.0)
    with pytest.raises(ModelError, match=r"default thresholds cannot be used: threshold 5 is outside the scores "
                                         r"model 'cls' gives \(0 to 1\)"):
        ModelPackage.load(classifier)
    with pytest.raises(ModelError, match="is not a valid manifest"):
        ModelPackage.load(edit_manifest(build_tiny_model(tmp_path / "escape"), onnx="../model.onnx"))


def test_threshold_sets_refuse_numbers_that_would_pass_or_fail_every_part():
    for value in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError, match="finite"):
            ThresholdSet(1, value)
        with pytest.raises(ValueError, match="finite"):
            ThresholdSet(1, 0.5, hold_above=value)
