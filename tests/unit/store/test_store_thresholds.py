"""Threshold-set history: versions only go up, a change needs a technician and a reason, and is audited."""

from __future__ import annotations

import sqlite3

import pytest
from argon2 import PasswordHasher

from hmi.core.errors import PermissionDenied, StoreError
from hmi.store.audit import verify
from hmi.store.thresholds import ThresholdLog
from hmi.store.users import Role, UserDirectory

V1 = {"score": 0.5, "hold_below": 0.05, "hold_above": 0.05, "min_defect_area_px": 20}


@pytest.fixture
def people(db_path):
    users = UserDirectory(db_path, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    admin = users.add("Ann", Role.ADMIN, "4711-admin", by=None)
    tech = users.add("Tom", Role.TECHNICIAN, "555555", by=admin)
    otto = users.add("Otto", Role.OPERATOR, "123456", by=admin)
    yield tech, otto
    users.close()


@pytest.fixture
def log(db_path):
    t = ThresholdLog(db_path)
    yield t
    t.close()


def test_the_recipe_file_version_is_recorded_once(log, db_path):
    first = log.ensure("demo", 1, V1, "recipes/demo.toml")
    again = log.ensure("demo", 1, dict(V1), "recipes/demo.toml")
    assert first.values == again.values == V1 and again.created_by == "station"
    assert [r.version for r in log.history("demo")] == [1]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM audit WHERE action = 'threshold_change'").fetchone()[0] == 1


def test_a_recipe_file_edited_by_hand_under_the_same_version_is_refused(log):
    log.ensure("demo", 1, V1, "recipes/demo.toml")
    with pytest.raises(StoreError, match="differ from those recorded for that version") as err:
        log.ensure("demo", 1, {**V1, "score": 0.7}, "recipes/demo.toml")
    assert "new version number" in err.value.todo


def test_a_technician_changes_thresholds_with_a_reason_and_it_is_audited(log, people, db_path):
    tech, _ = people
    log.ensure("demo", 1, V1, "recipes/demo.toml")
    new = log.record("demo", 2, {**V1, "score": 0.55}, by=tech, reason="fewer false rejects after lens cleaning")
    assert log.latest("demo") == new and new.created_by == "Tom"
    with sqlite3.connect(db_path) as conn:
        user, old, value, reason = conn.execute(
            "SELECT user, old_value, new_value, reason FROM audit WHERE action = 'threshold_change' "
            "ORDER BY id DESC LIMIT 1").fetchone()
    assert user == "Tom" and '"score":0.5' in old and '"score":0.55' in value and '"version":2' in value
    assert reason == "fewer false rejects after lens cleaning"
    assert verify(db_path).ok


def test_an_operator_may_not_change_thresholds(log, people):
    _, otto = people
    with pytest.raises(PermissionDenied, match="Only a technician can change thresholds"):
        log.record("demo", 2, V1, by=otto, reason="looks fine")
    assert log.latest("demo") is None


def test_a_change_needs_a_reason_and_a_newer_version(log, people):
    tech, _ = people
    with pytest.raises(StoreError, match="needs a reason"):
        log.record("demo", 1, V1, by=tech, reason="  ")
    log.record("demo", 3, V1, by=tech, reason="first set")
    with pytest.raises(StoreError, match="not newer than the recorded version 3") as err:
        log.record("demo", 3, V1, by=tech, reason="again")
    assert err.value.todo == "use version 4"
