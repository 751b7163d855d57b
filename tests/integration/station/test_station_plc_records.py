"""The whole line: station -> records -> PLC over real S7 (python-snap7 server) and a real SQLite file."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from hmi.config.loader import load_station
from hmi.core.verdict import Verdict
from hmi.plc.simulator import SimulatedPlc
from hmi.station import build_station

ENV = {k: v for k, v in os.environ.items() if k != "DISPLAY"}


def test_100_parts_to_a_plc_in_another_process_match_the_records(tmp_path):
    record = tmp_path / "plc.json"
    plc = subprocess.Popen([sys.executable, "-m", "hmi.plc.simulator", "--port", "0", "--record", str(record)],
                           stdout=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r":(\d+)", plc.stdout.readline()).group(1))
        data = tmp_path / "data"
        run = subprocess.run([sys.executable, "-m", "hmi", "run", "--headless", "--max-parts", "100",
                              "--data-dir", str(data), "--set", "plc.mode=s7", "--set", "plc.host=127.0.0.1",
                              "--set", f"plc.port={port}", "--set", "camera.rate_hz=0"],
                             capture_output=True, text=True, timeout=180, env=ENV)
        assert run.returncode == 0, run.stderr
    finally:
        plc.send_signal(signal.SIGTERM)
        out, _ = plc.communicate(timeout=30)
    seen = json.loads(record.read_text())
    conn = sqlite3.connect(data / "hmi.db")
    rows = dict(conn.execute("SELECT seq, auto_verdict FROM inspections").fetchall())
    statuses = dict(conn.execute("SELECT plc_status, count(*) FROM inspections GROUP BY 1").fetchall())
    conn.close()
    assert len(rows) == 100 and statuses == {"delivered": 100}
    assert "received 100 results" in out
    assert sorted(r["seq"] for r in seen["results"]) == sorted(rows)
    assert all(rows[r["seq"]] == r["verdict"] for r in seen["results"])
    # the ring holds the newest 8 results, each in slot seq mod 8, agreeing with the records
    newest = sorted(rows)[-8:]
    for seq in newest:
        slot = seen["slots"][seq % 8]
        assert slot["seq"] == seq and slot["verdict"] == rows[seq]
    assert seen["header_before_slot"] == []  # the header never named a seq before its slot was written


def _station(data, plc_port, **over):
    cfg = load_station(data, ["plc.mode=s7", "plc.host=127.0.0.1", f"plc.port={plc_port}", "camera.rate_hz=20",
                              "plc.plc_silent_ms=600", *[f"{k}={v}" for k, v in over.items()]])
    return build_station(cfg, data)


def _wait(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.expected_errors("^PLC link lost: ")
def test_plc_lost_mid_run_alarms_and_parts_are_recorded_not_delivered(tmp_path):
    data = tmp_path / "data"
    server = SimulatedPlc(port=0).start()
    port = server.port
    st = _station(data, port)
    st.start()
    try:
        assert _wait(lambda: st.outlet.counts().total >= 5, 30)
        server.stop()
        assert _wait(lambda: st.alarms.is_active("PLC_LINK"), 30)  # how fast: a benchmark's business
        judged_while_down = st.outlet.counts().total
        assert _wait(lambda: st.outlet.counts().total >= judged_while_down + 5, 10)
        server = SimulatedPlc(port=port).start()
        assert _wait(lambda: not st.alarms.is_active("PLC_LINK"), 15)
        back = st.outlet.counts().total
        assert _wait(lambda: st.outlet.counts().total >= back + 5, 10)
        # PLC program stalls: its heartbeat freezes
        server.freeze_heartbeat(True)
        assert _wait(lambda: st.alarms.is_active("PLC_SILENT"), 5)
    finally:
        st.stop()
        server.stop()
    conn = sqlite3.connect(data / "hmi.db")
    statuses = dict(conn.execute("SELECT plc_status, count(*) FROM inspections GROUP BY 1").fetchall())
    conn.close()
    assert statuses.get("not_delivered", 0) >= 5
    assert statuses.get("delivered", 0) >= 10
    assert set(statuses) <= {"delivered", "not_delivered", "late"}


def test_hold_review_reaches_records_and_audit(tmp_path):
    from hmi.store.queries import part_audit, part_by_seq
    from hmi.store.database import open_readonly

    data = tmp_path / "data"
    st = build_station(load_station(data, ["plc.mode=simulated", "camera.rate_hz=0"]), data)
    # widen the borderline band so that defective demo parts are held for review
    from dataclasses import replace

    setup = st.active.get()
    st.active.set(replace(setup, thresholds=replace(setup.thresholds, hold_above=1000.0)))
    st.start()
    try:
        assert _wait(lambda: bool(st.holds.pending()), 60)
        held = st.holds.pending()[0].part
        st.holds.decide(held.seq, Verdict.NG, "op1", "scratch", "visible scratch")
        st.audit("op1", "review", f"part {held.seq}", "HOLD", "NG", "visible scratch")
    finally:
        st.stop()
    conn = open_readonly(data / "hmi.db")
    rec = part_by_seq(conn, held.seq)
    history = part_audit(conn, held.seq)
    conn.close()
    assert rec.auto_verdict is Verdict.HOLD or rec.auto_verdict == "HOLD"
    assert str(getattr(rec.verdict, "name", rec.verdict)) == "NG" and rec.reviewed_by == "op1"
    assert history, "the review is in the part's audit history"


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    db = data / "hmi.db"
    db.write_bytes(b"quarterly figures, definitely not SQLite" * 100)
    before = db.read_bytes()
    run = subprocess.run([sys.executable, "-m", "hmi", "run", "--headless", "--max-parts", "1", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=120, env=ENV)
    assert run.returncode == 2
    assert "not" in run.stderr and "hmi.db" in run.stderr
    assert db.read_bytes() == before


def test_the_station_itself_refuses_a_review_without_a_user_allowed_to_review(tmp_path):
    import pytest

    from hmi.core.errors import PermissionDenied
    from hmi.store.users import Role, User

    data = tmp_path / "data"
    st = build_station(load_station(data, ["plc.mode=off"]), data)
    try:
        with pytest.raises(PermissionDenied, match="disabled"):
            st.review(1, Verdict.OK, User("tom", Role.OPERATOR, active=False))
        with pytest.raises(PermissionDenied, match="Nobody is logged in"):
            st.review(1, Verdict.OK, None)
    finally:
        st.stop()  # never started: releases the records connections


def _spy_on_openings(monkeypatch) -> tuple[list, list]:
    """(store writers, simulated PLCs) the builder opens from now on, for checking they were released.

    The store writer owns the station's one write connection; every other write goes to it as a request.
    """
    import hmi.station.records_and_plc as records_and_plc

    writers, plcs = [], []
    start = records_and_plc.start_simulated_plc

    class Writer(records_and_plc.RecordWriter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            writers.append(self)

    def start_plc(cfg):
        plcs.append(start(cfg))
        return plcs[-1]

    monkeypatch.setattr(records_and_plc, "RecordWriter", Writer)
    monkeypatch.setattr(records_and_plc, "start_simulated_plc", start_plc)
    return writers, plcs


def test_a_station_that_cannot_load_its_model_leaves_no_connection_behind(tmp_path, monkeypatch):
    import pytest

    from hmi.config.loader import load_recipe, save_recipe
    from hmi.core.errors import ModelError

    data = tmp_path / "data"
    cfg = load_station(data, ["plc.mode=simulated"])
    r = load_recipe(data, "demo")
    save_recipe(data, r.model_copy(update={"model": r.model.model_copy(update={"sha256": "c" * 64})}))
    writers, plcs = _spy_on_openings(monkeypatch)
    with pytest.raises(ModelError):
        build_station(cfg, data)
    assert writers == [] and plcs == []  # the model is loaded before the records and the PLC server open


def test_a_build_refused_after_the_plc_server_started_stops_it_and_closes_the_records(tmp_path, monkeypatch):
    import pytest

    from hmi.core.errors import StoreError

    data = tmp_path / "data"
    cfg = load_station(data, ["plc.mode=simulated"])
    build_station(cfg, data).stop()  # records threshold version 1 of the demo recipe
    # The recorded version changed by SQL (the recipe file itself is sealed, docs/seals.md): refused when the
    # station loads the recipe's thresholds, after the PLC server started.
    import sqlite3

    conn = sqlite3.connect(data / "hmi.db")
    with conn:
        conn.execute("""UPDATE threshold_sets SET "values" = json_set("values", '$.score', 0.9) WHERE recipe = 'demo'""")
    conn.close()
    writers, plcs = _spy_on_openings(monkeypatch)
    with pytest.raises(StoreError, match="differ from those recorded"):
        build_station(cfg, data)
    assert len(plcs) == 1 and not plcs[0].running
    assert len(writers) == 1 and writers[0]._conn is None  # the records' one write connection is closed
    with pytest.raises(StoreError, match="closed"):
        writers[0].requests.run("could not write", "", lambda conn: None)


def test_a_station_built_but_never_started_stops_its_plc_server(tmp_path):
    data = tmp_path / "data"
    st = build_station(load_station(data, ["plc.mode=simulated"]), data)
    plc = st.downstream.simulated_plc
    assert plc is not None and plc.running
    st.stop()
    assert not plc.running and st.downstream.simulated_plc is None
