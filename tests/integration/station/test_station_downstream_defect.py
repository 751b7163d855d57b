"""A defect found downstream, reported on a running station: checked, signed, then recorded by the store thread."""

from __future__ import annotations

import sqlite3

import pytest

from hmi.core.errors import PermissionDenied, StationError, StoreError
from hmi.store.audit import verify
from hmi.store.database import database_path
from hmi.store.users import Role
from hmi.services.tuning.score_history import Judgement, load_history
from tests.support.stations import PIN, replay_station
from tests.support.waiting import wait_for

QUINN_PIN = "246802"


@pytest.fixture
def station(tmp_path, tiny_model):
    s = replay_station(tmp_path, tiny_model, ["ok", "ok", "hold", "ng"] * 5, rate_hz=40.0)
    admin = s.users.authenticate("admin", PIN["admin"])
    s.users.add("quinn", Role.QUALITY, QUINN_PIN, admin)
    s.start()
    yield s
    s.stop()


def _rows(station, sql: str, *args):
    with sqlite3.connect(database_path(station.data_dir)) as conn:
        return conn.execute(sql, args).fetchall()



def test_a_quality_manager_reports_a_missed_defect_and_it_becomes_a_labelled_defect(station):
    seq = wait_for(lambda: _rows(station, "SELECT min(seq) FROM inspections WHERE verdict = 'OK'")[0][0],
                   "a recorded OK part")
    quinn = station.users.authenticate("quinn", QUINN_PIN)
    report = station.report_downstream_defect(seq, "crack", quinn, QUINN_PIN, "  crack at the rim, final test  ")
    assert report.user == "quinn" and report.note == "crack at the rim, final test"
    wait_for(lambda: _rows(station, "SELECT 1 FROM downstream_defects"), "the downstream defect recorded")
    assert _rows(station, "SELECT seq, reported_by, defect_type, note FROM downstream_defects") == [
        (seq, "quinn", "crack", "crack at the rim, final test")]
    assert _rows(station, "SELECT user, old_value, new_value, reason FROM audit WHERE action = 'downstream_defect' "
                          "AND subject = ?", f"part {seq}") == [("quinn", "OK", "crack", "crack at the rim, final test")]
    assert ("quinn", f"defect found downstream on part {seq}") in _rows(
        station, "SELECT user, reason FROM audit WHERE action = 'signature'")
    assert [e.action for e in station.records.part_history(seq)] == ["downstream_defect"]
    labelled = {p.seq: p for p in load_history(database_path(station.data_dir), "ui-test").parts}
    assert labelled[seq].judgement is Judgement.DEFECT
    assert verify(database_path(station.data_dir)).ok


def test_a_report_is_refused_in_plain_words_before_anything_is_recorded(station):
    seq = wait_for(lambda: _rows(station, "SELECT min(seq) FROM inspections")[0][0], "a recorded part")
    quinn = station.users.authenticate("quinn", QUINN_PIN)
    olga = station.users.authenticate("olga", PIN["olga"])
    with pytest.raises(PermissionDenied, match="Only a quality manager can report a defect found downstream"):
        station.report_downstream_defect(seq, "crack", olga, PIN["olga"])
    with pytest.raises(StoreError, match="there is no part 999999 in the records") as info:
        station.report_downstream_defect(999999, "crack", quinn, QUINN_PIN)
    assert "part number" in info.value.todo
    with pytest.raises(StationError, match="'rust' is not a defect type of recipe ui-test") as info:
        station.report_downstream_defect(seq, "rust", quinn, QUINN_PIN)
    assert "scratch" in info.value.todo
    with pytest.raises(PermissionDenied, match="Wrong name or PIN"):
        station.report_downstream_defect(seq, "crack", quinn, "0000")
    assert len(station.downstream.queues.downstream_defects) == 0  # nothing was handed to the store thread
    assert _rows(station, "SELECT count(*) FROM downstream_defects") == [(0,)]
    assert _rows(station, "SELECT count(*) FROM audit WHERE action = 'downstream_defect'") == [(0,)]
