"""Adapters for models users bring, each on a small ONNX file with the real export's signature and metadata.

The builders below write graphs whose answers are known: a bright frame (mean pixel > half scale) shows
the encoded defect, a dark one shows nothing. The integration tests import these builders too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from hmi.core.errors import ModelError
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet, decide
from hmi.inference.importer import guess_kind, import_model, read_signature
from hmi.inference.inspector import Inspector

ANCHORS = 8400


def _save(graph: onnx.GraphProto, path: Path, metadata: dict[str, str]) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    for k, v in metadata.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _bright_gate(input_name: str) -> list[onnx.NodeProto]:
    """Nodes giving 'gate' = 1.0 when the input's mean is over 0.5, else 0.0 (a scalar)."""
    return [
        helper.make_node("ReduceMean", [input_name], ["mean"], keepdims=0),
        helper.make_node("Greater", ["mean", "half"], ["bright"]),
        helper.make_node("Cast", ["bright"], ["gate"], to=TensorProto.FLOAT),
    ]


def _yolo_head(names: list[str], boxes: list[tuple[float, float, float, float, int, float]], extra: int = 0,
               coeffs: dict[int, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(box part, score part) of an output0 [1, 4 + nc + extra, 8400] with the given anchors filled in."""
    nc = len(names)
    box = np.zeros((1, 4 + nc + extra, ANCHORS), np.float32)
    score = np.zeros_like(box)
    for a, (cx, cy, w, h, k, conf) in enumerate(boxes):
        box[0, :4, a] = (cx, cy, w, h)
        score[0, 4 + k, a] = conf
        if coeffs and a in coeffs:
            box[0, 4 + nc:, a] = coeffs[a]
    return box, score


def build_yolo_detect(path: Path, names: list[str], boxes, size: int = 640) -> Path:
    """An Ultralytics-style detection export: images [1,3,S,S] -> output0 [1,4+nc,8400], gated by brightness."""
    box, score = _yolo_head(names, boxes)
    inits = [numpy_helper.from_array(box, "box_part"), numpy_helper.from_array(score, "score_part"),
             numpy_helper.from_array(np.array(0.5, np.float32), "half")]
    nodes = _bright_gate("images") + [helper.make_node("Mul", ["score_part", "gate"], ["scores"]),
                                      helper.make_node("Add", ["box_part", "scores"], ["output0"])]
    graph = helper.make_graph(nodes, "main_graph",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + len(names), ANCHORS])],
                              inits)
    meta = {"task": "detect", "stride": "32", "imgsz": f"[{size}, {size}]", "batch": "1",
            "names": str({i: n for i, n in enumerate(names)}), "author": "Ultralytics"}
    return _save(graph, path, meta)


def build_yolo_segment(path: Path, names: list[str], size: int = 640) -> Path:
    """A segmentation export: one 'scratch' instance whose mask is the input rectangle x 240-360, y 120-200."""
    proto = np.zeros((1, 32, size // 4, size // 4), np.float32)
    proto[0, 0] = -10.0
    proto[0, 0, 30:50, 60:90] = 10.0  # proto cells are 4 input pixels
    coeff = np.zeros(32, np.float32)
    coeff[0] = 1.0
    k = names.index("scratch")
    box, score = _yolo_head(names, [(300, 160, 140, 100, k, 0.9)], extra=32, coeffs={0: coeff})
    inits = [numpy_helper.from_array(box, "box_part"), numpy_helper.from_array(score, "score_part"),
             numpy_helper.from_array(np.array(0.5, np.float32), "half"), numpy_helper.from_array(proto, "proto")]
    nodes = _bright_gate("images") + [helper.make_node("Mul", ["score_part", "gate"], ["scores"]),
                                      helper.make_node("Add", ["box_part", "scores"], ["output0"]),
                                      helper.make_node("Identity", ["proto"], ["output1"])]
    graph = helper.make_graph(
        nodes, "main_graph", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + len(names) + 32, ANCHORS]),
         helper.make_tensor_value_info("output1", TensorProto.FLOAT, [1, 32, size // 4, size // 4])], inits)
    meta = {"task": "segment", "stride": "32", "imgsz": f"[{size}, {size}]",
            "names": str({i: n for i, n in enumerate(names)})}
    return _save(graph, path, meta)


def build_classifier(path: Path, names: tuple[str, ...] = ("good", "scratch", "dent"), size: int = 32) -> Path:
    """A classifier: logits good = 4 - 8m, scratch = 8m - 4, dent = 0, with m the mean input (0..1)."""
    w = np.array([[-8.0, 8.0, 0.0]], np.float32)
    b = np.array([[4.0, -4.0, 0.0]], np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
             numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes")]
    nodes = [helper.make_node("ReduceMean", ["input", "axes"], ["m"], keepdims=0),  # [1]
             helper.make_node("Unsqueeze", ["m", "one"], ["m2"]),                    # [1, 1]
             helper.make_node("Mul", ["m2", "w"], ["mw"]),
             helper.make_node("Add", ["mw", "b"], ["logits"])]
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "one"))
    graph = helper.make_graph(nodes, "classifier",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, len(names)])], inits)
    return _save(graph, path, {"class_names": ",".join(names)})


def build_anomalib(path: Path, size: int = 64, with_metadata: bool = True) -> Path:
    """An anomalib-style export: input [1,3,S,S] (ImageNet-normalised) -> anomaly_map [1,1,S,S], pred_score [1].

    Raw map = 8 x channel mean of the normalised input (grey ~0.6, white ~19.5); metadata threshold 10,
    min 0, max 20, so normalised: grey ~0.03, white ~0.97.
    """
    inits = [numpy_helper.from_array(np.array(8.0, np.float32), "eight"),
             numpy_helper.from_array(np.array([1], np.int64), "axes_c"),
             numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes_all")]
    nodes = [helper.make_node("ReduceMean", ["input", "axes_c"], ["c"], keepdims=1),
             helper.make_node("Mul", ["c", "eight"], ["anomaly_map"]),
             helper.make_node("ReduceMax", ["anomaly_map", "axes_all"], ["pred_score"], keepdims=0)]
    graph = helper.make_graph(nodes, "torch_jit",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("pred_score", TensorProto.FLOAT, [1]),
                               helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, [1, 1, size, size])],
                              inits)
    meta = {"image_threshold": "10.0", "pixel_threshold": "10.0", "min": "0.0", "max": "20.0"} if with_metadata else {}
    return _save(graph, path, meta)


def build_unrelated(path: Path) -> Path:
    """A model that is no image model at all: [1, 10] -> [1, 10]."""
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "mlp",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])])
    return _save(graph, path, {})


def thresholds_of(package) -> ThresholdSet:
    """The package's default ThresholdSet, as 'hmi inspect' builds it."""
    t = package.manifest.thresholds
    return ThresholdSet(0, t.score, t.hold_below, t.hold_above, t.min_defect_area_px)


def bright(w: int, h: int) -> np.ndarray:
    """A white RGB frame: every test model shows its defect on it."""
    return np.full((h, w, 3), 255, np.uint8)


def dark(w: int, h: int) -> np.ndarray:
    """A dark grey frame: no test model shows anything on it."""
    return np.full((h, w), 30, np.uint8)


DETECT_NAMES = ["good", "scratch", "dent"]
# anchor 0: scratch 0.9 at input box x 270-370, y 140-180; anchor 1: same place, weaker (NMS drops it);
# anchor 2: a 'good' box (never a defect); anchor 3: a dent under Ultralytics' 0.25 floor.
DETECT_BOXES = [(320, 160, 100, 40, 1, 0.9), (322, 161, 100, 40, 1, 0.6),
                (100, 500, 50, 50, 0, 0.95), (500, 500, 30, 30, 2, 0.2)]


def test_detect_export_is_recognised_with_its_class_names(tmp_path):
    onnx_file = build_yolo_detect(tmp_path / "yolo.onnx", DETECT_NAMES, DETECT_BOXES)
    assert guess_kind(read_signature(onnx_file)) == "yolo_detect"
    pkg = import_model(onnx_file, tmp_path / "pkg")
    m = pkg.manifest
    assert (m.kind, m.class_names, m.outputs) == ("yolo_detect", DETECT_NAMES, {"boxes": "output0"})
    assert set(m.class_thresholds) == {"scratch", "dent"}  # 'good' never counts as a defect
    assert (m.input.layout, m.input.dtype, m.input.width, m.input.scale) == ("NCHW", "float32", 640, pytest.approx(1 / 255))


def test_detection_box_comes_back_in_frame_pixels_through_the_letterbox(tmp_path):
    pkg = import_model(build_yolo_detect(tmp_path / "yolo.onnx", DETECT_NAMES, DETECT_BOXES), tmp_path / "pkg")
    ins = Inspector(pkg, provider="cpu")
    # 1280x960 -> ratio 0.5, padded 80 rows top: input (270, 140, 100x40) is frame (540, 120, 200x80)
    result = ins.inspect(bright(1280, 960))
    assert [(r.label, r.confidence) for r in result.regions] == [("scratch", pytest.approx(0.9))]
    r = result.regions[0]
    assert (r.x, r.y, r.w, r.h, r.area_px) == (540, 120, 200, 80, 16000)
    assert result.score == pytest.approx(0.9)
    assert decide(result, thresholds_of(pkg))[0] is Verdict.NG


def test_detector_on_a_clean_part_is_ok(tmp_path):
    pkg = import_model(build_yolo_detect(tmp_path / "yolo.onnx", DETECT_NAMES, DETECT_BOXES), tmp_path / "pkg")
    result = Inspector(pkg, provider="cpu").inspect(dark(640, 640))
    assert result.regions == () and result.score == 0.0
    assert decide(result, thresholds_of(pkg))[0] is Verdict.OK


def test_detector_borderline_confidence_is_held(tmp_path):
    boxes = [(320, 160, 100, 40, 1, 0.42)]
    pkg = import_model(build_yolo_detect(tmp_path / "yolo.onnx", DETECT_NAMES, boxes), tmp_path / "pkg")
    result = Inspector(pkg, provider="cpu").inspect(bright(640, 640))
    assert decide(result, thresholds_of(pkg))[0] is Verdict.HOLD


def test_detector_roi_drops_boxes_outside_it(tmp_path):
    pkg = import_model(build_yolo_detect(tmp_path / "yolo.onnx", DETECT_NAMES, DETECT_BOXES), tmp_path / "pkg")
    result = Inspector(pkg, provider="cpu", roi_rectangles=[(0, 300, 640, 340)]).inspect(bright(640, 640))
    assert result.regions == () and decide(result, thresholds_of(pkg))[0] is Verdict.OK


def test_segmentation_mask_gives_outline_and_pixel_area(tmp_path):
    names = ["scratch", "dent"]
    pkg = import_model(build_yolo_segment(tmp_path / "seg.onnx", names), tmp_path / "pkg")
    assert pkg.manifest.kind == "yolo_segment"
    assert pkg.manifest.outputs == {"boxes": "output0", "protos": "output1"}
    result = Inspector(pkg, provider="cpu").inspect(bright(640, 640))
    (r,) = result.regions
    # the region keeps the detection's box (230-370 x 110-210), as Ultralytics reports it; its area is the mask's
    # (rectangle x 240-360, y 120-200, inside the box)
    assert (r.label, r.x, r.y, r.w, r.h) == ("scratch", 230, 110, 140, 100)
    # bilinear upsampling of the prototype rounds off the corner pixels, as in Ultralytics itself
    assert abs(r.area_px - 120 * 80) <= 8 and len(r.contour) >= 4
    assert decide(result, thresholds_of(pkg))[0] is Verdict.NG
    assert Inspector(pkg, provider="cpu").inspect(dark(640, 640)).regions == ()


def test_classifier_scores_the_top_defect_class(tmp_path):
    pkg = import_model(build_classifier(tmp_path / "cls.onnx"), tmp_path / "pkg")
    assert pkg.manifest.kind == "classification" and pkg.manifest.class_names == ["good", "scratch", "dent"]
    ins = Inspector(pkg, provider="cpu")
    bad = ins.inspect(bright(48, 40))
    assert bad.regions[0].label == "scratch" and (bad.regions[0].w, bad.regions[0].h) == (48, 40)
    expected = np.exp(4.0) / (np.exp(4.0) + np.exp(-4.0) + 1.0)
    assert bad.score == pytest.approx(expected, rel=1e-4)
    assert decide(bad, thresholds_of(pkg))[0] is Verdict.NG
    good = ins.inspect(dark(48, 40))
    assert good.regions == () and decide(good, thresholds_of(pkg))[0] is Verdict.OK


def test_anomalib_map_is_normalised_by_its_metadata(tmp_path):
    pkg = import_model(build_anomalib(tmp_path / "model.onnx"), tmp_path / "pkg")
    m = pkg.manifest
    assert m.kind == "anomalib" and m.outputs == {"score": "pred_score", "anomaly_map": "anomaly_map"}
    assert (m.extra["image_threshold"], m.extra["min"], m.extra["max"]) == (10.0, 0.0, 20.0)
    frame = np.full((128, 128, 3), 128, np.uint8)
    frame[32:64, 80:112] = 255
    result = Inspector(pkg, provider="cpu").inspect(frame)
    grey = 8 * np.mean((128 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]))
    white = 8 * np.mean((1.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]))
    assert result.score == pytest.approx((white - 10) / 20 + 0.5, abs=1e-3)
    assert result.anomaly_map.min() == pytest.approx((grey - 10) / 20 + 0.5, abs=1e-3)
    (r,) = result.regions
    assert abs(r.x - 80) <= 2 and abs(r.y - 32) <= 2 and abs(r.w - 32) <= 4 and abs(r.h - 32) <= 4
    assert decide(result, thresholds_of(pkg))[0] is Verdict.NG


def test_anomalib_metadata_json_beside_the_file_is_read(tmp_path):
    onnx_file = build_anomalib(tmp_path / "export" / "model.onnx", with_metadata=False)
    with pytest.raises(ModelError, match="metadata.json"):
        import_model(onnx_file, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    (onnx_file.parent / "metadata.json").write_text(
        '{"image_threshold": 10.0, "pixel_threshold": 10.0, "min": 0.0, "max": 20.0, "task": "segmentation"}')
    pkg = import_model(onnx_file, tmp_path / "pkg")
    assert decide(Inspector(pkg, provider="cpu").inspect(dark(64, 64)), thresholds_of(pkg))[0] is Verdict.OK


def test_unrelated_model_is_refused_with_what_was_found(tmp_path):
    with pytest.raises(ModelError) as err:
        import_model(build_unrelated(tmp_path / "mlp.onnx"), tmp_path / "pkg")
    assert "fits none of the model kinds" in err.value.what and "x[1,10] float" in err.value.what
    assert "--kind" in err.value.todo
    assert not (tmp_path / "pkg").exists()


def test_wrong_kind_forced_is_refused_in_plain_words(tmp_path):
    with pytest.raises(ModelError, match="metadata says it is an Ultralytics 'detect' model, not anomalib"):
        import_model(build_yolo_detect(tmp_path / "yolo.onnx", DETECT_NAMES, DETECT_BOXES), tmp_path / "pkg",
                     kind="anomalib")


def test_classifier_without_names_needs_classes(tmp_path):
    onnx_file = build_classifier(tmp_path / "cls.onnx")
    m = onnx.load(str(onnx_file))
    del m.metadata_props[:]
    onnx.save(m, str(onnx_file))
    with pytest.raises(ModelError, match="names none"):
        import_model(onnx_file, tmp_path / "pkg")
    pkg = import_model(onnx_file, tmp_path / "pkg", classes=["ok", "crack", "chip"])
    assert pkg.manifest.class_thresholds == {"crack": 0.5, "chip": 0.5}
