"""`hmi thresholds suggest` through the console entry point, on a real records file: read-only, plain words."""

from __future__ import annotations

import json
import sqlite3

import pytest

from hmi.cli import main
from hmi.config.loader import save_recipe
from hmi.config.schema import Recipe, RecipeModel, RecipeThresholds
from tests.unit.changes.thresholds_records import SHA, Row, write_records


def _station(tmp_path, rows: list[Row]):
    data = tmp_path / "data"
    save_recipe(data, Recipe(name="r1", model=RecipeModel(name="tiny", sha256=SHA),
                             thresholds=RecipeThresholds(version=3, score=0.40, hold_below=0.08)))
    write_records(data / "hmi.db", rows)
    return data


def test_suggest_prints_the_proposal_beside_the_set_in_force_and_changes_nothing(tmp_path, capsys):
    good = [Row(0.10 + 0.02 * i, "HOLD", "OK", "olga") for i in range(6)]
    data = _station(tmp_path, good + [Row(0.30, "OK"), Row(0.35, "HOLD", "NG", "olga"), Row(0.05, "OK")])
    conn = sqlite3.connect(data / "hmi.db")
    with conn:
        conn.execute("INSERT INTO downstream_defects (seq, reported_at, reported_by, defect_type, note) "
                     "VALUES (7, '2025-03-02T10:00:00.000Z', 'quinn', 'crack', 'found at final test')")
    conn.close()
    before = (data / "hmi.db").read_bytes()
    out = tmp_path / "suggestion.json"
    assert main(["thresholds", "suggest", "--data-dir", str(data), "--recipe", "r1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Threshold suggestion for recipe r1" in printed
    assert "Judged by people: 6 good, 2 defective (1 found downstream)" in printed
    assert "in force (v3)" in printed and "0.4000" in printed and "0.2500" in printed
    assert "technician's signature on the\nthresholds screen" in printed
    figures = json.loads(out.read_text())
    assert figures["proposed"]["score"] == 0.25 and figures["proposed"]["version"] == 4
    assert figures["in_force"]["labelled"]["escapes"] == 1 and figures["proposed"]["labelled"]["escapes"] == 0
    assert figures["proposed"]["stored"] == {"ok": 7, "hold": 0, "ng": 2, "false_rejects": 0, "good_held": 0,
                                             "escapes": 0, "known_defective": 2}
    assert (data / "hmi.db").read_bytes() == before
    assert "score = 0.4" in (data / "recipes" / "r1.toml").read_text()


@pytest.mark.expected_errors("too few parts judged by people")
def test_suggest_with_too_few_judged_parts_says_how_many_more_and_fails(tmp_path, capsys):
    data = _station(tmp_path, [Row(0.2, "HOLD", "OK", "olga"), Row(0.5, "HOLD", "NG", "olga"), Row(0.1, "OK")])
    assert main(["thresholds", "suggest", "--data-dir", str(data), "--set", "station.recipe=r1"]) == 2
    err = capsys.readouterr().err
    assert "too few parts judged by people" in err and "1 good and 1 defective" in err
    assert "review 4 more parts a person judges good" in err
