"""Real exports made by anomalib 2.7 and Ultralytics 8.4 (tests/fixtures/exports, tools/make_export_fixtures.py).

Each is imported as `hmi model import` does and judged by the station's Inspector on the comparison images;
the regions must be the exporter's own predictor's (stored beside the file): same class, box IoU >= 0.9,
confidence within 0.005, mask area within 2 %. What the station does not run is refused by name.
"""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from hmi.core.errors import ModelError
from hmi.core.verdict import Verdict
from hmi.decision.policy import decide
from hmi.inference.importer import ImportOptions, import_model
from hmi.inference.inspector import Inspector
from hmi.inference.package import ModelPackage
from hmi.inference.teach_thresholds import calibrate
from tests.support.export_compare import (Agreement, FIXTURES, compare_class, compare_regions, predictions,
                                          spearman)
from tests.support.export_scenes import eval_images, scene, surface
from tests.unit.inference.test_adapters_kinds import thresholds_of

YOLO_KINDS = sorted(p.parent.name for p in FIXTURES.glob("yolo*/predictions.json"))
IMAGES_PER_KIND = 12  # of the 30 (the docs' table uses all 30 through the CLI: tools/compare_exports.py)


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """The comparison images; a spread of the 30 with both non-square sizes."""
    every = eval_images()
    return [(i, every[i]) for i in np.linspace(0, len(every) - 1, IMAGES_PER_KIND).astype(int)]


def _regions(result) -> list[dict]:
    return [{"x": r.x, "y": r.y, "w": r.w, "h": r.h, "area_px": r.area_px, "label": r.label,
             "confidence": r.confidence} for r in result.regions]


@pytest.mark.parametrize("kind", YOLO_KINDS)
def test_imported_export_finds_the_exporters_regions(kind, images, tmp_path):
    pkg = import_model(FIXTURES / kind / "model.onnx", tmp_path / kind)
    m = pkg.manifest
    inspector = Inspector(pkg, provider="cpu", threads=1)
    theirs = predictions(kind)["images"]
    a = Agreement()
    for i, img in images:
        result = inspector.inspect(img)
        if m.kind == "classification":
            label = result.regions[0].label if result.regions else None
            compare_class(a, i, result.score, label, theirs[i], m.class_names,
                          [c in m.class_thresholds for c in m.class_names])
        else:
            compare_regions(a, i, _regions(result), theirs[i], m.class_names, m.class_thresholds)
    assert a.boxes >= len(images) // 2, "the fixture's model finds too little to compare"
    assert a.same, a.problems


def test_post_processing_comes_from_the_export_and_is_shown_in_the_manifest(tmp_path):
    raw = import_model(FIXTURES / "yolo11_detect" / "model.onnx", tmp_path / "raw").manifest.extra
    assert (raw["output"], raw["nms_iou"], raw["min_confidence"], raw["max_det"]) == ("anchors", 0.7, 0.25, 300.0)
    assert raw["nms_iou_from"] == "Ultralytics' default IoU" and raw["head"] == "Detect"
    e2e = import_model(FIXTURES / "yolo11_detect_nms" / "model.onnx", tmp_path / "e2e").manifest.extra
    assert e2e["output"] == "end-to-end" and "nms=True" in str(e2e["nms"]) and "nms_iou" not in e2e
    set_here = import_model(FIXTURES / "yolo11_detect" / "model.onnx", tmp_path / "set",
                            options=ImportOptions(conf=0.4, iou=0.5)).manifest
    assert (set_here.extra["nms_iou"], set_here.extra["min_confidence"]) == (0.5, 0.4)
    assert set_here.class_thresholds == {"scratch": 0.4, "spot": 0.4}
    with pytest.raises(ModelError, match="inside the model"):
        import_model(FIXTURES / "yolo11_detect_nms" / "model.onnx", tmp_path / "no", options=ImportOptions(iou=0.5))
    assert not (tmp_path / "no").exists()


def test_oriented_box_export_is_refused_by_name_even_with_classes_given(tmp_path):
    for kwargs in ({}, {"kind": "yolo_detect", "classes": ["scratch", "spot", "extra"]}):
        with pytest.raises(ModelError) as err:
            import_model(FIXTURES / "yolo11_obb" / "model.onnx", tmp_path / "obb", **kwargs)
        assert "oriented bounding box (OBB)" in err.value.what and "head OBB" in err.value.what
        assert not (tmp_path / "obb").exists()


def test_rt_detr_export_is_refused_by_name(tmp_path):
    """Metadata as Ultralytics 8.4 writes it for an RT-DETR export; its output [1, 300, 4 + nc] fits no adapter."""
    rows = helper.make_tensor("rows", TensorProto.FLOAT, [1, 300, 6], [0.0] * 1800)
    graph = helper.make_graph([helper.make_node("Constant", [], ["output0"], value=rows)], "g",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 300, 6])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    meta = {"description": "Ultralytics rtdetr-l model trained on parts.yaml", "author": "Ultralytics",
            "version": "8.4.190", "stride": "32", "task": "detect", "head": "RTDETRDecoder", "batch": "1",
            "imgsz": "[640, 640]", "names": "{0: 'scratch', 1: 'spot'}", "args": "{'batch': 1}", "end2end": "False"}
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    path = tmp_path / "rtdetr.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError) as err:
        import_model(path, tmp_path / "rt", classes=["scratch", "spot"])
    assert "RT-DETR" in err.value.what and "RTDETRDecoder" in err.value.what


def test_patchcore_with_external_data_and_a_fixed_batch_imports_and_ranks_as_anomalib(images, tmp_path):
    source = FIXTURES / "patchcore"
    pkg = import_model(source / "model.onnx", tmp_path / "pc")
    m = pkg.manifest
    assert m.kind == "anomalib" and m.external_data == ["model.onnx.data"]
    assert (pkg.folder / "model.onnx.data").read_bytes() == (source / "model.onnx.data").read_bytes()
    assert (m.thresholds.score, m.thresholds.hold_below, m.thresholds.hold_above) == (0.5, 0.0, 0.0)
    inspector = Inspector(pkg, provider="cpu", threads=1)
    ours = [inspector.inspect(img).score for img in eval_images()]
    theirs = predictions("patchcore")
    assert spearman(ours, theirs["lightning_scores"]) >= 0.999 and spearman(ours, theirs["onnx_scores"]) >= 0.999
    assert np.abs(np.array(ours) - theirs["onnx_scores"]).max() < 1e-3  # fed as anomalib feeds it
    # the data file is under the package hash: one changed weight and the package is refused
    data = bytearray((pkg.folder / "model.onnx.data").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (pkg.folder / "model.onnx.data").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="with its data files has SHA-256"):
        ModelPackage.load(pkg.folder)


def _write_parts(folder, count: int, mark: float, seed: int) -> None:
    """Good parts with a faint mark blended in at `mark` (0: a clean surface), as PNG files."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(count):
        img = surface(rng, 256, 256).astype(np.float32)
        faint, _ = scene(rng, 256, 256, 1)
        cv2.imwrite(str(folder / f"{i}.png"), (img * (1 - mark) + faint * mark).astype(np.uint8)[:, :, ::-1])


def test_good_parts_give_the_stations_tail_fit_thresholds(tmp_path):
    _write_parts(tmp_path / "good", 12, 0.2, 3)  # faint marks the line accepts: anomalib scores them 0.1-0.25
    pkg = import_model(FIXTURES / "patchcore" / "model.onnx", tmp_path / "pc",
                       options=ImportOptions(good=tmp_path / "good"))
    m = pkg.manifest
    cal = calibrate(np.array(m.training.heldout_scores))
    assert m.training.heldout_images == 12 and "tail fit on 12 good parts" in str(m.extra["thresholds_from"])
    t = m.thresholds  # fitted from the scores before they were rounded for the manifest
    assert (t.score, t.hold_below, m.region_threshold) == pytest.approx(
        (cal.thresholds.score, cal.thresholds.hold_below, cal.region_threshold), abs=1e-4)
    assert 0.0 < m.thresholds.hold_below and max(m.training.heldout_scores) < m.thresholds.score < 0.5
    # a clean part scores 0 (anomalib clips), a real defect far above: OK and NG under the fitted thresholds
    clean, defect = surface(np.random.default_rng(99), 256, 256), eval_images()[0]
    inspector = Inspector(pkg, provider="cpu")
    assert decide(inspector.inspect(clean), thresholds_of(pkg))[0] is Verdict.OK
    assert decide(inspector.inspect(defect), thresholds_of(pkg))[0] is Verdict.NG


def test_good_parts_all_clipped_to_zero_cannot_be_fitted(tmp_path):
    _write_parts(tmp_path / "clean", 6, 0.0, 4)
    with pytest.raises(ModelError) as err:
        import_model(FIXTURES / "patchcore" / "model.onnx", tmp_path / "pc", options=ImportOptions(good=tmp_path / "clean"))
    assert "6 of the 6 good parts score 0" in err.value.what and "threshold (0.5) is kept" in err.value.todo
    assert not (tmp_path / "pc").exists()


def test_a_missing_data_file_is_named(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    shutil.copyfile(FIXTURES / "patchcore" / "model.onnx", export / "model.onnx")
    with pytest.raises(ModelError) as err:
        import_model(export / "model.onnx", tmp_path / "pc")
    assert "model.onnx.data" in err.value.what and "copy model.onnx.data next to model.onnx" in err.value.todo
