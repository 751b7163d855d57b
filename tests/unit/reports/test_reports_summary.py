"""The shift report's figures on a hand-made shift whose answers are known, and on a generated one."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from hmi.config.schema import ShiftsConfig
from hmi.core.errors import StoreError
from hmi.bench.records import generate_week
from hmi.services.reports.compare import compare_reports
from hmi.services.reports.connection import open_reports
from hmi.services.reports.models import ModelBaselines
from hmi.services.reports.shifts import ShiftCalendar
from hmi.services.reports.summary import build_report
from tests.unit.reports.conftest import T0

CAL = ShiftCalendar(ShiftsConfig())
LATER = T0 + timedelta(days=2)


def test_known_shift_figures(known_shift):
    conn = open_reports(known_shift)
    r = build_report(conn, CAL.resolve("2026-03-02 Early"), calendar=CAL, now=LATER)
    assert r.parts == 460
    # seq % 20: 1 NG, 2 NG->OK by anna, 3 HOLD->NG by ben (scratch), 4 HOLD->NG by system, 5 (every 40th) NOT INSPECTED.
    assert r.auto_tally.ng == 46 and r.auto_tally.hold == 46 and r.auto_tally.not_inspected == 12
    assert r.tally.ng == 23 + 23 + 23 and r.tally.ok == 460 - 69 - 12
    assert r.first_pass_yield == pytest.approx(100 * r.auto_tally.ok / 460)
    assert r.final_yield == pytest.approx(100 * r.tally.ok / 460)
    ops = {o.user: o for o in r.operators}
    assert ops["anna"].overrides == 23 and ops["anna"].to_ok == 23 and ops["ben"].reviews == 23
    assert "system" not in ops and r.timed_out == 23
    assert r.override_rate == pytest.approx(100 * 23 / (460 - 46))
    kinds = {p.defect: p.parts for p in r.pareto}
    assert kinds == {"dent": 23, "scratch": 23, "not classified": 23, "not inspected": 12}
    assert r.pareto[-1].cumulative == pytest.approx(1.0)
    assert [h.parts for h in r.hourly] == [60, 60, 60, 40, 60, 60, 60, 60]
    (stop,) = r.stops
    assert stop.start == T0 + timedelta(minutes=179, seconds=5) and stop.end == T0 + timedelta(minutes=200, seconds=5)
    assert stop.alarms == ("CAMERA_LOST",)
    (alarm,) = r.alarms
    assert alarm.acknowledged_by == "anna" and alarm.cleared_at == T0 + timedelta(minutes=200)
    (model,) = r.models
    assert model.auto_ng == 46 and model.ng_to_ok == 23
    assert sum(r.distributions[0].good) == r.tally.ok
    assert r.audit_head is None
    conn.close()


def test_a_running_shift_counts_no_stop_in_the_future(known_shift):
    conn = open_reports(known_shift)
    r = build_report(conn, CAL.resolve("2026-03-02 Early"), now=T0 + timedelta(hours=2))
    assert r.stops == () and r.run_hours == pytest.approx(2.0)
    conn.close()


def test_generated_records_cross_check_with_plain_sql(tmp_path):
    data = tmp_path / "week"
    generate_week(data, datetime(2026, 3, 2, 6, tzinfo=timezone.utc), rate_hz=0.5, days=1.5,
                  shift_names=lambda t: (CAL.containing(t) or CAL.window(t.date(), "Early")).name)
    conn = open_reports(data)
    w = CAL.resolve("2026-03-03 Early")
    r = build_report(conn, w, calendar=CAL, baselines=ModelBaselines(data), now=LATER)
    # A closed shift counts each part as it stood at the shift's end: a hold decided later is still HOLD.
    plain = dict(conn.execute("SELECT CASE WHEN auto_verdict = 'HOLD' AND reviewed_at >= ? THEN 'HOLD' ELSE verdict "
                              "END AS v, count(*) FROM inspections WHERE captured_at >= ? AND captured_at < ? "
                              "GROUP BY v", (w.end_text, w.start_text, w.end_text)).fetchall())
    assert r.tally.ok == plain.get("OK", 0) and r.tally.ng == plain.get("NG", 0) and r.parts == sum(plain.values())
    assert {o.user for o in r.operators} <= {"anna", "ben"}
    assert r.models and r.models[0].drift is not None    # the shipped demo model carries teach-time scores
    assert any(s.alarms == ("CAMERA_LOST",) and 5 * 60 < s.seconds < 8 * 60 for s in r.stops)  # 6 min at 12:15
    night = build_report(conn, CAL.resolve("2026-03-02 Night"), calendar=CAL, baselines=ModelBaselines(data), now=LATER)
    for given in ((r, night), (night, r)):  # either way round: older first, the change is newer minus older
        rows = {f.name: f for f in compare_reports(*given)}
        assert rows["Parts"].a == f"{night.parts:,}" and rows["Parts"].b == f"{r.parts:,}"
        assert rows["Parts"].change == f"{r.parts - night.parts:+,.0f} parts" and r.parts != night.parts
    conn.close()


def test_reports_connection_cannot_write(known_shift):
    conn = open_reports(known_shift)
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM inspections")
    conn.close()


def test_missing_foreign_and_non_sqlite_files_are_refused(tmp_path):
    with pytest.raises(StoreError, match="no records"):
        open_reports(tmp_path / "nowhere")
    other = tmp_path / "other.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE songs (title TEXT)")
    c.commit()
    c.close()
    with pytest.raises(StoreError, match="not the station's records"):
        open_reports(other)
    text = tmp_path / "notes.db"
    text.write_text("shopping list")
    with pytest.raises(StoreError, match="not a SQLite file"):
        open_reports(text)
