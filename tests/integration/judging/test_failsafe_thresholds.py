"""Issue 15 item 6 on a real station (SQLite records, the tiny ONNX model): the thresholds screen's signed change
and model activation refuse thresholds that are no finite number or lie outside the model's scores, and a
package whose manifest does not describe its ONNX file; nothing is signed, recorded or put in force."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3

import pytest
from pydantic import ValidationError

from hmi.config.loader import load_recipe
from hmi.config.schema import RecipeThresholds
from hmi.core.errors import ModelError, StationError, StoreError
from hmi.store.database import database_path
from tests.support.stations import PIN, replay_station
from tests.support.tiny_model import build_tiny_model


@pytest.fixture
def station(tmp_path, tiny_model):
    s = replay_station(tmp_path, tiny_model, ["ok", "ng"] * 4)
    yield s
    s.stop()


def rows(station, sql: str, *args):
    with sqlite3.connect(database_path(station.data_dir)) as conn:
        return conn.execute(sql, args).fetchall()


def unsigned(score: float, hold_below: float = 0.05, hold_above: float = 0.05) -> RecipeThresholds:
    """A proposal as a caller could hand it over without validation (the screen's API must check it again)."""
    return RecipeThresholds.model_construct(version=1, score=score, hold_below=hold_below, hold_above=hold_above,
                                            min_defect_area_px=0)


def nothing_changed(station) -> None:
    assert station.changes.recipe.thresholds.version == 1 and station.active.get().thresholds.version == 1
    assert load_recipe(station.data_dir, "ui-test").thresholds.score == 0.3
    assert rows(station, "SELECT version FROM threshold_sets WHERE recipe = 'ui-test'") == [(1,)]
    assert rows(station, "SELECT count(*) FROM audit WHERE action = 'signature'") == [(0,)]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_the_thresholds_screen_refuses_a_threshold_that_is_no_finite_number(station, value):
    theo = station.users.authenticate("theo", PIN["theo"])
    with pytest.raises(ValidationError, match="finite number"):
        RecipeThresholds(score=value)
    with pytest.raises(StationError, match=r"thresholds for recipe ui-test refused: score = (-?inf|nan) is not a finite"):
        station.changes.apply_thresholds(unsigned(value), theo, PIN["theo"], "try it")
    with pytest.raises(StationError, match=r"hold_above = (-?inf|nan) is not a finite number"):
        station.changes.apply_thresholds(unsigned(0.4, hold_above=value), theo, PIN["theo"], "try it")
    nothing_changed(station)


def test_the_thresholds_screen_refuses_a_threshold_outside_the_models_scores_and_stores_standard_json(station):
    theo = station.users.authenticate("theo", PIN["theo"])
    with pytest.raises(StationError, match=r"threshold -0.5 is outside the scores model 'tiny' gives \(0 and up\)"):
        station.changes.apply_thresholds(unsigned(-0.5), theo, PIN["theo"], "try it")
    nothing_changed(station)

    recipe = station.changes.apply_thresholds(RecipeThresholds(score=0.5, hold_below=0.1), theo, PIN["theo"], "ok")
    assert recipe.thresholds.version == 2

    def no_constants(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name} stored")
    for (values,) in rows(station, "SELECT \"values\" FROM threshold_sets"):
        json.loads(values, parse_constant=no_constants)
    for (old, new) in rows(station, "SELECT old_value, new_value FROM audit WHERE action = 'threshold_change'"):
        for text in (old, new):
            json.loads(text or "null", parse_constant=no_constants)
    theo_user = station.users.authenticate("theo", PIN["theo"])
    with pytest.raises(StoreError, match="score = inf is not a finite number"):   # the records' own guard
        station.changes.threshold_log.record("ui-test", 9, {"score": math.inf}, theo_user, "behind the screen")
    assert [v for (v,) in rows(station, "SELECT version FROM threshold_sets WHERE recipe = 'ui-test'")] == [1, 2]


def test_model_activation_refuses_a_package_that_does_not_match_its_onnx_file(station, tmp_path):
    theo = station.users.authenticate("theo", PIN["theo"])
    models = station.data_dir / "models"
    bad = build_tiny_model(tmp_path / "bad", name="bad")
    manifest = json.loads((bad / "manifest.json").read_text(encoding="utf-8"))
    manifest["input"].update(width=256, height=256)
    (bad / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    shutil.copytree(bad, models / "bad")
    with pytest.raises(ModelError, match=r"model 'bad' does not match its ONNX file: the manifest says input "
                                         r"3×256×256 \(NHWC uint8\), the ONNX file expects 3×64×64"):
        station.changes.activate_model("bad", theo, PIN["theo"], "new model")
    assert station.changes.recipe.model.name == "tiny" and station.active.get().carried.model == "tiny"

    odd = build_tiny_model(tmp_path / "odd", name="odd")           # its default threshold lies below its scores
    manifest = json.loads((odd / "manifest.json").read_text(encoding="utf-8"))
    manifest["thresholds"]["score"] = -2.0
    (odd / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    shutil.copytree(odd, models / "odd")
    with pytest.raises(ModelError, match=r"default thresholds cannot be used: threshold -2 is outside the scores"):
        station.changes.activate_model("odd", theo, PIN["theo"], "new model")
    build_tiny_model(models / "fine", name="fine")               # a fitting model, with thresholds given: checked too
    with pytest.raises(ModelError, match="score = nan is not a finite number"):
        station.changes.activate_model("fine", theo, PIN["theo"], "new model", thresholds=unsigned(math.nan))
    assert station.changes.recipe.model.name == "tiny" and station.changes.recipe.thresholds.version == 1
    assert rows(station, "SELECT count(*) FROM audit WHERE action = 'model_activate'") == [(0,)]
    fine = station.changes.activate_model("fine", theo, PIN["theo"], "new model")
    assert fine.model.name == "fine" and fine.thresholds.score == 0.3
