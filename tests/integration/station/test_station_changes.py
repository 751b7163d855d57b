"""Setup changes on a running station: signed thresholds, recipes, changeover — checked in the records and audit trail."""

from __future__ import annotations

import sqlite3

import pytest

from hmi.config.loader import load_recipe
from hmi.config.schema import RecipeThresholds
from hmi.core.errors import PermissionDenied, StationError
from hmi.store.database import database_path
from hmi.store.users import User
from tests.support.stations import PIN, replay_station
from tests.support.waiting import wait_for


@pytest.fixture
def station(tmp_path, tiny_model):
    s = replay_station(tmp_path, tiny_model, ["ok", "ng", "ok", "hold"] * 50, rate_hz=20.0)
    yield s
    s.stop()


def _user(station, name: str) -> User:
    return station.users.authenticate(name, PIN[name])


def _rows(station, sql: str, *args):
    with sqlite3.connect(database_path(station.data_dir)) as conn:
        return conn.execute(sql, args).fetchall()



def test_signed_threshold_change_reaches_the_next_record_and_the_audit_trail(station):
    station.start()
    theo = _user(station, "theo")
    wait_for(lambda: _rows(station, "SELECT 1 FROM inspections LIMIT 1"), "a first recorded part")
    proposal = RecipeThresholds(score=0.5, hold_below=0.1, hold_above=0.05)

    with pytest.raises(PermissionDenied):
        station.changes.apply_thresholds(proposal, theo, "0000", "tighter after complaint 4711")
    assert station.changes.recipe.thresholds.version == 1
    with pytest.raises(StationError, match="reason"):
        station.changes.apply_thresholds(proposal, theo, PIN["theo"], "  ")

    recipe = station.changes.apply_thresholds(proposal, theo, PIN["theo"], "tighter after complaint 4711")
    assert recipe.thresholds.version == 2 and recipe.thresholds.score == 0.5
    assert load_recipe(station.data_dir, "ui-test").thresholds.version == 2
    assert station.active.get().thresholds.version == 2
    changed_at = _rows(station, "SELECT max(seq) FROM inspections")[0][0]
    wait_for(lambda: _rows(station, "SELECT 1 FROM inspections WHERE seq > ? + 3", changed_at),
             "parts recorded after the change")
    versions = {v for (v,) in _rows(station, "SELECT DISTINCT threshold_version FROM inspections WHERE seq > ? + 2",
                                    changed_at)}
    assert versions == {2}
    audit = _rows(station, "SELECT user, reason, new_value FROM audit WHERE action = 'threshold_change' ORDER BY id")
    assert audit[-1][0] == "theo" and audit[-1][1] == "tighter after complaint 4711" and '"version":2' in audit[-1][2]
    signatures = _rows(station, "SELECT user, reason FROM audit WHERE action = 'signature'")
    assert ("theo", "threshold change on recipe ui-test") in signatures


def test_an_operator_cannot_change_thresholds(station):
    olga = _user(station, "olga")
    with pytest.raises(PermissionDenied):
        station.changes.apply_thresholds(RecipeThresholds(score=0.9), olga, PIN["olga"], "want fewer rejects")
    assert station.changes.recipe.thresholds.version == 1


def test_recipe_edits_keep_thresholds_and_a_copy_can_be_put_in_force(station):
    theo = _user(station, "theo")
    recipe = station.changes.recipe
    with pytest.raises(StationError, match="thresholds screen"):
        station.changes.save_recipe(recipe.model_copy(update={"thresholds": recipe.thresholds.model_copy(
            update={"score": 0.9})}), theo, "sneaky")
    copy = station.changes.copy_recipe("ui-test", "ui-test-b", theo, "second variant of the flange")
    assert copy.thresholds.version == 1 and load_recipe(station.data_dir, "ui-test-b").name == "ui-test-b"
    edited = station.changes.save_recipe(copy.model_copy(update={"plc_recipe_number": 7,
                                                                 "defect_types": ["burr", "crack"]}),
                                         theo, "PLC number for the B variant")
    assert edited.plc_recipe_number == 7
    assert station.changes.recipe_for_plc_number(7) == "ui-test-b"

    station.start()
    wait_for(lambda: _rows(station, "SELECT 1 FROM inspections LIMIT 1"), "a first recorded part")
    station.changes.changeover("ui-test-b", theo, "product change to B", PIN["theo"])
    assert station.recipe.name == "ui-test-b" and station.active.get().carried.hold_timeout_s == copy.hold.timeout_s
    wait_for(lambda: _rows(station, "SELECT 1 FROM inspections WHERE recipe = 'ui-test-b'"),
             "a part recorded under recipe ui-test-b")
    audit = _rows(station, "SELECT user, subject, reason FROM audit WHERE action = 'recipe_change' ORDER BY id")
    assert ("theo", "changeover to ui-test-b", "product change to B") in audit


def test_a_changeover_to_a_recipe_whose_model_is_missing_changes_nothing(station):
    theo = _user(station, "theo")
    bad = station.changes.recipe.model_copy(update={"name": "no-model"})
    bad = bad.model_copy(update={"model": bad.model.model_copy(update={"name": "absent"})})
    with pytest.raises(StationError, match="not found"):
        station.changes.save_recipe(bad, theo, "try")
    assert station.changes.recipe.name == "ui-test" and station.active.get().recipe == "ui-test"
