"""A closed shift's report no longer changes: held parts decided after its end count as HOLD open at the end."""

from __future__ import annotations

from datetime import timedelta

from hmi.config.schema import ShiftsConfig
from hmi.services.reports.connection import open_reports
from hmi.services.reports.shifts import ShiftCalendar
from hmi.services.reports.summary import build_report, key_figures
from hmi.store.database import database_path, iso_utc, open_database, transaction
from tests.unit.reports.conftest import T0, part, write

CAL = ShiftCalendar(ShiftsConfig())
END = T0 + timedelta(hours=8)


def _time_out(data_dir, seq: int, at) -> None:
    """What the store writes when a held part's time limit runs out: the recipe's default by 'system'."""
    conn = open_database(database_path(data_dir))
    with transaction(conn):
        conn.execute("UPDATE inspections SET verdict = 'NG', reviewed_by = 'system', reviewed_at = ? WHERE seq = ?",
                     (iso_utc(at), seq))
    conn.close()


def _report(data_dir, now):
    conn = open_reports(data_dir)
    try:
        return build_report(conn, CAL.resolve("2026-03-02 Early"), calendar=CAL, now=now)
    finally:
        conn.close()


def test_a_closed_shifts_report_stays_as_it_was_when_held_parts_time_out_afterwards(tmp_path):
    rows = [part(seq, T0 + timedelta(minutes=seq), "OK") for seq in range(1, 40)]
    rows.append(part(40, T0 + timedelta(hours=2), "HOLD", score=0.5))          # times out inside the shift
    rows.append(part(41, END - timedelta(seconds=20), "HOLD", score=0.5))      # still held when the shift ends
    data = write(tmp_path / "data", rows)
    _time_out(data, 40, T0 + timedelta(hours=2, minutes=5))
    closed = _report(data, END + timedelta(seconds=1))
    assert closed.closed and closed.tally.hold == 1 and closed.tally.ng == 1 and closed.timed_out == 1

    _time_out(data, 41, END + timedelta(seconds=40))   # the last held part times out after the shift ended
    later = _report(data, END + timedelta(hours=1))
    assert later.tally == closed.tally and later.timed_out == closed.timed_out == 1
    assert later.pareto == closed.pareto and later.hourly == closed.hourly
    assert key_figures(later) == key_figures(closed)
    assert dict(key_figures(later))["HOLD open at the shift's end"] == "1"
    assert later.decided_after_end == 1 and any("count as HOLD open" in n for n in later.notes)
