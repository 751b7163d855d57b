"""`hmi dataset export` through the command's own parser and runner (as hmi.cli.entry dispatches them)."""

from __future__ import annotations

import argparse

import pytest

from hmi.cli import dataset as dataset_cli
from hmi.core.errors import StationError
from hmi.core.verdict import Verdict
from tests.unit.dataset.conftest import PartPlan


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hmi")
    sub = parser.add_subparsers(dest="command")
    dataset_cli.register(sub)
    return parser.parse_args(argv)


def test_dataset_cli_exports_the_time_window_in_plant_time(recorded, tmp_path, capsys):
    records = recorded([PartPlan(1, Verdict.HOLD, (), "anna", Verdict.OK),
                        PartPlan(2, Verdict.NG, ((5, 5, 20, 20, "dent"),), "anna", Verdict.NG, "dent"),
                        PartPlan(3, Verdict.NG, ((5, 5, 20, 20, "dent"),), "anna", Verdict.NG, "dent")])
    out = tmp_path / "export"
    # Parts are captured at 07:00, 08:00 and 09:00 UTC; in Berlin (UTC+1 in March) 08:00 to 10:00 holds the first two.
    args = _parse(["dataset", "export", "--out", str(out), "--since", "2026-03-02T08:00",
                   "--until", "2026-03-02T10:00", "--layout", "anomalib", "--set", "shifts.timezone=Europe/Berlin"])
    assert args.handler(args, records.data_dir) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"2 reviewed parts found; 2 exported to {out}"
    assert "anomalib/demo: defect/dent 1, good 1" in printed
    assert sorted(p.name for p in (out / "anomalib" / "demo").rglob("*.png")) == [
        "000000000001.png", "000000000002.png", "000000000002.png"]  # image and mask of part 2
    assert not (out / "yolo").exists()


def test_dataset_cli_refuses_a_window_that_ends_before_it_starts(recorded, tmp_path):
    records = recorded([PartPlan(1, Verdict.HOLD, (), "anna", Verdict.OK)])
    args = _parse(["dataset", "export", "--out", str(tmp_path / "x"), "--since", "2026-03-03", "--until", "2026-03-02"])
    with pytest.raises(StationError, match="is not after --since"):
        args.handler(args, records.data_dir)


def test_dataset_cli_names_the_missing_records(tmp_path):
    args = _parse(["dataset", "export", "--out", str(tmp_path / "x")])
    with pytest.raises(StationError, match="no records database") as err:
        args.handler(args, tmp_path / "nowhere")
    assert "--data-dir" in err.value.todo
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "x").exists()


def test_dataset_cli_layout_choices_are_checked_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        _parse(["dataset", "export", "--out", "x", "--layout", "coco"])
    assert "invalid choice: 'coco'" in capsys.readouterr().err
