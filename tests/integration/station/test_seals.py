"""What decides a verdict is sealed (issue 15 item 3): the station file, the recipe files and the users table.

A change made behind the station's back (file edits, SQL on the users table) is found at start and refused
until a technician or admin accepts it with their signature, audited with the old and new values; the
station's own signed changes keep their seals. Real SQLite files, the station's own builder, the CLI as a
subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from hmi.changes.seals import SettingSeals, UnacceptedChanges
from hmi.config.loader import load_station, read_toml
from hmi.config.schema import RecipeModel, RecipeThresholds
from hmi.core.errors import PermissionDenied
from hmi.core.verdict import Verdict
from hmi.station import build_station
from hmi.store.database import database_path
from hmi.store.seals import SealBook
from hmi.store.thresholds import ThresholdLog
from hmi.store.users import User, UserDirectory
from tests.support.stations import FRAME, PIN, audit_rows, tiny_recipe, tiny_station, write_frames
from tests.support.waiting import wait_for

RECIPE = "sealed"


@pytest.fixture(scope="module")
def sealed_template(tmp_path_factory, request) -> Path:
    """A data folder a station was built in once (so sealed as found), with admin, olga and theo."""
    from tests.support.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("sealed")
    model = build_tiny_model(root / "tiny")
    pinned = RecipeModel(name="tiny", sha256=hashlib.sha256((model / "model.onnx").read_bytes()).hexdigest())
    station = tiny_station(root, model, [tiny_recipe(RECIPE, frame_size=FRAME, margin=16, model=pinned)],
                           write_frames(root / "frames", ["ok", "ng"] * 4))
    station.stop()
    return root


@pytest.fixture
def data(sealed_template, tmp_path) -> Path:
    """A fresh copy of the sealed data folder (its frames beside it, where the station file's path points)."""
    shutil.copytree(sealed_template, tmp_path / "root")
    return tmp_path / "root" / "data"


def config(data: Path):
    """The station config as tests/support/stations.py builds it, on this copy's frames."""
    return load_station(data, [f"station.recipe={RECIPE}", "station.mode=production", "camera.kind=replay",
                               f"camera.replay_path={data.parent / 'frames'}", "camera.trigger=software",
                               "camera.rate_hz=40", "plc.mode=off", "inference.threads=1"])


def edit_toml(path: Path, change) -> None:
    content = read_toml(path)
    change(content)
    path.write_text(tomli_w.dumps(content), encoding="utf-8")


def recipe_file(data: Path) -> Path:
    return data / "recipes" / f"{RECIPE}.toml"


def sql(data: Path, statement: str) -> None:
    conn = sqlite3.connect(database_path(data))
    with conn:
        conn.execute(statement)
    conn.close()


EDITS = {
    "threshold set with a new version": (lambda d: edit_toml(recipe_file(d), lambda c: c["thresholds"].update(
        version=7, score=1000.0)), f"recipe {RECIPE}", {"thresholds.score", "thresholds.version"}),
    "inspection area": (lambda d: edit_toml(recipe_file(d), lambda c: c["roi"].update(rectangles=[[0, 0, 8, 8]])),
                        f"recipe {RECIPE}", {"roi.rectangles"}),
    "model with an empty hash": (lambda d: edit_toml(recipe_file(d), lambda c: c["model"].update(sha256="")),
                                 f"recipe {RECIPE}", {"model.sha256"}),
    "camera kind": (lambda d: edit_toml(d / "station.toml", lambda c: c["camera"].update(kind="pylon")),
                    "station.toml", {"camera.kind"}),
    "plc mode off": (lambda d: edit_toml(d / "station.toml", lambda c: c["plc"].update(mode="off")),
                     "station.toml", {"plc.mode"}),
    "deadline": (lambda d: edit_toml(d / "station.toml", lambda c: c["pipeline"].update(deadline_ms=600000)),
                 "station.toml", {"pipeline.deadline_ms"}),
    "role raised by SQL": (lambda d: sql(d, "UPDATE users SET role = 'admin' WHERE name = 'olga'"), "users",
                           {"olga.role"}),
    "users deleted by SQL": (lambda d: sql(d, "DELETE FROM users"), "users", {"admin.role", "olga.role", "theo.role"}),
}


def seals_of(data: Path) -> SettingSeals:
    db = database_path(data)
    return SettingSeals(data, SealBook(db), UserDirectory(db), ThresholdLog(db))


def close(seals: SettingSeals) -> None:
    seals.close()
    seals.users.close()
    seals.threshold_log.close()


@pytest.mark.parametrize("edit", list(EDITS))
def test_each_change_behind_the_stations_back_is_refused_at_start(data, edit):
    change, subject, keys = EDITS[edit]
    build_station(config(data), data).stop()  # sealed and unchanged: it builds
    change(data)
    with pytest.raises(UnacceptedChanges) as refused:
        build_station(config(data), data)
    found = {c.subject: c for c in refused.value.changes}
    assert set(found) == {subject}
    assert keys <= set(found[subject].keys)
    assert subject in refused.value.what and "hmi seals accept" in refused.value.todo
    if edit == "users deleted by SQL":  # and nobody may create an admin as on a first run
        directory = UserDirectory(database_path(data))
        assert not directory.first_run_open()
        with pytest.raises(PermissionDenied):
            directory.add("mallory", "admin", "123456", None)
        directory.close()


def test_a_technician_accepts_on_signature_and_the_station_inspects_again(data):
    EDITS["threshold set with a new version"][0](data)
    edit_toml(recipe_file(data), lambda c: c["thresholds"].update(score=0.31))  # inside the tiny model's range
    station = build_station(config(data), data, accept_on_screen=True)
    try:
        setup = station.active.get()
        assert setup.inspector is None and f"recipe {RECIPE}: thresholds.score" in setup.problem
        station.start()
        wait_for(lambda: station.outlet.counts().total >= 2, "parts judged fail-safe")
        assert {p.verdict for p in station.outlet.recent()} == {Verdict.NOT_INSPECTED}
        theo = User("theo", station.users.get("theo").role)
        with pytest.raises(PermissionDenied):  # an operator's signature accepts nothing
            station.changes.seals.accept("olga", PIN["olga"], "looks fine")
        accepted = station.changes.seals.accept(theo.name, PIN["theo"], "new threshold agreed with quality")
        assert [c.subject for c in accepted] == [f"recipe {RECIPE}"]
        assert station.active.get().inspector is not None and station.active.get().thresholds.score == 0.31
        wait_for(lambda: any(p.verdict is not Verdict.NOT_INSPECTED for p in station.outlet.recent()),
                 "a part judged with the accepted setting")
        assert station.changes.seals.changes() == []
    finally:
        station.stop()
    (user, subject, old, new, reason), = audit_rows(data, "setting_accept")
    assert (user, subject) == ("theo", f"recipe {RECIPE}") and "agreed with quality" in reason
    assert json.loads(old) == {"thresholds.score": 0.3, "thresholds.version": 1}
    assert json.loads(new) == {"thresholds.score": 0.31, "thresholds.version": 7}
    version_7 = [r for r in ThresholdLog(database_path(data)).history(RECIPE) if r.version == 7]
    assert version_7[0].created_by == "theo"  # signed by the technician, not 'station'
    build_station(config(data), data).stop()  # sealed again: builds without a word


def test_a_role_raised_by_sql_cannot_accept_itself_and_a_recovered_admin_can(data):
    EDITS["role raised by SQL"][0](data)
    seals = seals_of(data)
    try:
        with pytest.raises(PermissionDenied, match="changed outside the station"):
            seals.accept("olga", PIN["olga"], "I am admin now")
        assert [c.subject for c in seals.changes()] == ["users"]
        sql(data, "DELETE FROM users")
        seals.users.recover_admin("rescue", "24681357", "every user was deleted", "tests@console")
        seals.accept("rescue", "24681357", "users restored after the deletion")
        assert seals.changes() == []
    finally:
        close(seals)
    (_user, subject, old, new, _reason), = audit_rows(data, "setting_accept")
    assert subject == "users" and json.loads(old)["olga.role"] == "operator" and json.loads(new)["rescue.role"] == "admin"


def test_the_stations_own_signed_changes_keep_their_seals(data):
    station = build_station(config(data), data)
    try:
        theo = station.users.authenticate("theo", PIN["theo"])
        station.changes.apply_thresholds(RecipeThresholds(score=0.32, hold_below=0.05, hold_above=0.05), theo,
                                         PIN["theo"], "tighter")
        admin = station.users.authenticate("admin", PIN["admin"])
        station.users.add("tina", "technician", "13572468", admin)
    finally:
        station.stop()
    build_station(config(data), data).stop()  # nothing to accept


def hmi(*args: str, data: Path, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", "hmi", *args, "--data-dir", str(data)], input=stdin,
                          capture_output=True, text=True, timeout=120, env=env)


def test_headless_refuses_with_one_message_and_the_console_accepts(data):
    EDITS["plc mode off"][0](data)
    done = hmi("seals", "check", data=data)
    assert done.returncode == 1 and "station.toml: plc.mode" in done.stdout and "simulated → off" in done.stdout
    run = hmi("run", "--headless", "--max-parts", "1", data=data)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "station.toml: plc.mode" in run.stderr and "hmi seals accept --user NAME" in run.stderr
    refused = hmi("seals", "accept", "--user", "olga", "--reason", "x", data=data, stdin=PIN["olga"] + "\n")
    assert refused.returncode == 2 and "Only a technician" in refused.stderr
    done = hmi("seals", "accept", "--user", "theo", "--reason", "line runs without PLC this week", data=data,
               stdin=PIN["theo"] + "\n")
    assert done.returncode == 0, done.stderr
    assert hmi("seals", "check", data=data).returncode == 0
    (user, subject, old, new, _reason), = audit_rows(data, "setting_accept")
    assert (user, subject, json.loads(old), json.loads(new)) == ("theo", "station.toml", {"plc.mode": "simulated"},
                                                                 {"plc.mode": "off"})


def test_a_camera_kind_changed_outside_the_station_is_named_before_any_camera_is_tried(data):
    EDITS["camera kind"][0](data)
    run = hmi("run", "--headless", "--max-parts", "1", data=data)
    assert run.returncode == 2 and "station.toml: camera.kind" in run.stderr, run.stderr


def test_a_recipe_changed_while_the_station_runs_is_neither_put_in_force_nor_written_over(data):
    station = build_station(config(data), data)
    try:
        EDITS["inspection area"][0](data)
        edited = recipe_file(data).read_bytes()
        with pytest.raises(UnacceptedChanges, match=f"recipe {RECIPE}: roi.rectangles"):
            station.changes.changeover(RECIPE, "PLC recipe request 1", "requested by the PLC")
        theo = station.users.authenticate("theo", PIN["theo"])
        with pytest.raises(UnacceptedChanges):
            station.changes.save_lighting_reference(120.0, theo)
        assert recipe_file(data).read_bytes() == edited
    finally:
        station.stop()
