"""`hmi dataset export`: reviewed parts from real records into anomalib's and YOLO's layouts, with a manifest."""

from __future__ import annotations

import csv
from datetime import timedelta, timezone

import cv2
import numpy as np
import pytest

from hmi.core.errors import StationError
from hmi.core.verdict import Verdict
from hmi.services.dataset.export import MANIFEST_COLUMNS, export_training_set, parse_time
from hmi.services.dataset.layouts import is_validation
from hmi.services.dataset.records import ExportFilter
from tests.unit.dataset.conftest import FRAME_H, FRAME_W, START, PartPlan

OK, NG, HOLD = Verdict.OK, Verdict.NG, Verdict.HOLD
SCRATCH = (20, 30, 40, 10, "scratch")
DENT = (100, 60, 30, 20, "dent")
SPOT_A = (10, 10, 12, 12, "anomaly")
SPOT_B = (120, 80, 16, 8, "anomaly")

PLANS = [
    PartPlan(1, HOLD, (), "anna", OK),                                   # HOLD decided good
    PartPlan(2, NG, (SCRATCH,), "anna", NG, "scratch"),                  # NG confirmed, a class-labelled region
    PartPlan(3, HOLD, (SPOT_A, SPOT_B), "ben", NG, "missing material"),  # anomaly regions only
    PartPlan(4, NG, (DENT, SPOT_A), "ben", OK),                          # NG overruled to good
    PartPlan(5, NG, (SCRATCH,)),                                         # nobody reviewed it: not exported
    PartPlan(6, HOLD, (SPOT_A,), "system", NG, timed_out=True),          # HOLD timed out: not a person's label
    PartPlan(7, OK, (), "anna", OK),                                     # OK confirmed, but no image was kept
    PartPlan(8, NG, ((60, 40, 8, 30, "crack"),), "anna", NG, "crack"),   # its image is deleted below
    PartPlan(9, NG, (DENT,), "anna", NG, "dent", recipe="retired"),      # a recipe whose file is gone
]


def _manifest(out) -> dict[int, dict[str, str]]:
    with (out / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == MANIFEST_COLUMNS
        return {int(r["seq"]): r for r in reader}


def _files(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_dataset_export_writes_both_layouts_from_reviewed_parts(recorded, tmp_path):
    records = recorded(PLANS)
    (stored,) = (records.data_dir / "images").rglob("000000000008_NG.png")
    stored.unlink()  # gone from the disk while its record still names it
    out = tmp_path / "export"
    report = export_training_set(records.data_dir, out)

    assert (report.parts, report.exported, report.no_image, report.not_a_label) == (7, 5, 2, 0)
    assert _files(out / "anomalib" / "demo") == [
        "defect/missing_material/000000000003.png", "defect/scratch/000000000002.png", "folder.yaml",
        "good/000000000001.png", "good/000000000004.png",
        "mask/missing_material/000000000003.png", "mask/scratch/000000000002.png"]
    assert _files(out / "anomalib" / "retired") == ["defect/dent/000000000009.png", "folder.yaml",
                                                    "mask/dent/000000000009.png"]
    # The images are the frames the parts were photographed with, unchanged.
    copied = cv2.imread(str(out / "anomalib/demo/defect/scratch/000000000002.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(copied, records.frames[2])

    rows = _manifest(out)
    assert sorted(rows) == [1, 2, 3, 4, 7, 8, 9]  # 5 (not reviewed) and 6 (timed out) are not there
    assert [rows[s]["review"] for s in (1, 2, 4)] == ["decided", "confirmed", "overruled"]
    assert rows[2]["reviewed_by"] == "anna" and rows[3]["reviewed_by"] == "ben"
    assert rows[2]["file"] == "anomalib/demo/defect/scratch/000000000002.png"
    assert rows[7]["file"] == rows[8]["file"] == "" and "no stored image" in rows[8]["note"]
    assert "left out of the YOLO set" in rows[3]["note"]

    lines = report.lines()
    assert any(line.startswith("2 reviewed parts have no stored image") for line in lines)
    assert "anomalib/demo: defect/missing_material 1, defect/scratch 1, good 2" in lines


def test_dataset_export_masks_are_the_regions_as_filled_boxes(recorded, tmp_path):
    records = recorded(PLANS[:4])
    out = tmp_path / "export"
    export_training_set(records.data_dir, out, layout="anomalib")
    mask = cv2.imread(str(out / "anomalib/demo/mask/missing_material/000000000003.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (FRAME_H, FRAME_W) and mask.dtype == np.uint8
    expected = np.zeros((FRAME_H, FRAME_W), np.uint8)
    for x, y, w, h, _ in (SPOT_A, SPOT_B):
        expected[y:y + h, x:x + w] = 255
    assert np.array_equal(mask, expected)
    yaml = (out / "anomalib/demo/folder.yaml").read_text(encoding="utf-8")
    assert "normal_dir: good" in yaml
    assert 'abnormal_dir: ["defect/missing_material", "defect/scratch"]' in yaml
    assert 'mask_dir: ["mask/missing_material", "mask/scratch"]' in yaml  # same order, same file names
    assert not (out / "yolo").exists()


def test_dataset_export_leaves_mask_dir_out_when_a_defect_has_no_regions(recorded, tmp_path):
    records = recorded([PartPlan(1, HOLD, (SPOT_A,), "anna", NG, "dent"), PartPlan(2, HOLD, (), "anna", NG, "dent")])
    out = tmp_path / "export"
    export_training_set(records.data_dir, out, layout="anomalib")
    assert _files(out / "anomalib/demo") == ["defect/dent/000000000001.png", "defect/dent/000000000002.png",
                                              "folder.yaml", "mask/dent/000000000001.png"]
    yaml = (out / "anomalib/demo/folder.yaml").read_text(encoding="utf-8")
    assert "\nmask_dir:" not in yaml and "mask_dir left out" in yaml


def test_dataset_export_yolo_labels_match_the_class_regions(recorded, tmp_path):
    records = recorded(PLANS)
    out = tmp_path / "export"
    report = export_training_set(records.data_dir, out, layout="yolo")
    rows = _manifest(out)
    root = out / "yolo" / "demo"
    names = (root / "data.yaml").read_text(encoding="utf-8")
    # The recipe's defect types are the classes, in the recipe's order.
    assert 'names:\n  0: "scratch"\n  1: "dent"\n  2: "crack"\n  3: "contamination"\n  4: "missing material"' in names
    assert "train: images/train\nval: images/val" in names

    split2 = "val" if is_validation(2) else "train"
    assert rows[2]["yolo_label"] == f"yolo/demo/labels/{split2}/000000000002.txt"
    x, y, w, h, _ = SCRATCH
    cls, *box = (out / rows[2]["yolo_label"]).read_text(encoding="utf-8").split()
    assert cls == "0"
    assert [float(v) for v in box] == pytest.approx([(x + w / 2) / FRAME_W, (y + h / 2) / FRAME_H,
                                                      w / FRAME_W, h / FRAME_H], abs=1e-6)
    assert (root / "images" / split2 / "000000000002.png").is_file()
    # A good part is a background image: its label file is empty, even where the model had seen a dent.
    assert (out / rows[4]["yolo_label"]).read_text(encoding="utf-8") == ""
    assert rows[1]["yolo_label"] and (out / rows[1]["yolo_label"]).read_text(encoding="utf-8") == ""
    # Regions of an anomaly map carry no class: the part is left out rather than labelled "no defect".
    assert rows[3]["yolo_label"] == "" and report.yolo_left_out == 1
    # The retired recipe's classes come from its stored regions.
    retired = (out / "yolo/retired/data.yaml").read_text(encoding="utf-8")
    assert 'names:\n  0: "dent"' in retired
    assert any("recipe 'retired' no longer exists" in line for line in report.lines())
    label9 = (out / rows[9]["yolo_label"]).read_text(encoding="utf-8").split()
    assert label9[0] == "0" and len(label9) == 5
    assert not (out / "anomalib").exists()


def test_dataset_export_filters_by_time_and_recipe(recorded, tmp_path):
    records = recorded(PLANS)
    since, until = START + timedelta(hours=2), START + timedelta(hours=4)  # seq 2 and 3 (until is exclusive)
    report = export_training_set(records.data_dir, tmp_path / "a", flt=ExportFilter(since=since, until=until))
    assert sorted(_manifest(tmp_path / "a")) == [2, 3] and report.parts == 2
    export_training_set(records.data_dir, tmp_path / "b", flt=ExportFilter(recipe="retired"))
    assert sorted(_manifest(tmp_path / "b")) == [9]


def test_dataset_export_refuses_a_folder_that_holds_files(recorded, tmp_path):
    records = recorded(PLANS[:1])
    out = tmp_path / "export"
    out.mkdir()
    (out / "old.txt").write_text("x")
    with pytest.raises(StationError, match="not empty") as err:
        export_training_set(records.data_dir, out)
    assert "choose a new folder" in err.value.todo


def test_dataset_export_leaves_the_records_untouched(recorded, tmp_path):
    records = recorded(PLANS)
    files = sorted(p for p in records.data_dir.rglob("*") if p.is_file() and not p.name.endswith("-shm"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    report = export_training_set(records.data_dir, tmp_path / "export")
    assert report.exported == 6
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before


def test_dataset_export_times_without_offset_are_plant_time():
    from zoneinfo import ZoneInfo

    berlin = parse_time("2026-03-02T07:00", ZoneInfo("Europe/Berlin"))
    assert berlin.astimezone(timezone.utc) == START
    assert parse_time("2026-03-02T06:00Z", ZoneInfo("Europe/Berlin")) == START
    with pytest.raises(StationError, match="is not a date or time"):
        parse_time("yesterday", ZoneInfo("UTC"))
