"""The records' change log for the plant (schema 6): inserts and changes the plant keeps are noted in the writer's
own transaction, image paths are not; parts recorded before schema 6 are noted once. And the shift of a part."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hmi.config.schema import ShiftsConfig
from hmi.plant.replication import LocalRecords, ShiftLookup
from hmi.services.reports.shifts import ShiftCalendar
from hmi.store.database import open_database, transaction
from hmi.store.schema import MIGRATIONS

_PART = ("INSERT INTO inspections (seq, captured_at, captured_mono, recipe, auto_verdict, verdict) "
         "VALUES (?, '2026-12-01T06:30:00.000Z', 1.0, 'demo', ?, ?)")


def _changes(conn) -> list[int]:
    return [seq for (seq,) in conn.execute("SELECT seq FROM part_changes ORDER BY id")]


def test_inserts_and_kept_changes_are_logged_image_paths_are_not(tmp_path):
    conn = open_database(tmp_path / "hmi.db")
    with transaction(conn):
        conn.execute(_PART, (1, "OK", "OK"))
        conn.execute(_PART, (2, "HOLD", "HOLD"))
    with transaction(conn):
        conn.execute("UPDATE inspections SET plc_status = 'delivered', plc_delivered_at = 'x' WHERE seq = 1")
        conn.execute("UPDATE inspections SET image_path = 'a.png', heatmap_path = 'b.png' WHERE seq = 1")
        conn.execute("UPDATE inspections SET verdict = 'NG', reviewed_by = 'olga' WHERE seq = 2")
    assert _changes(conn) == [1, 2, 1, 2]
    conn.close()
    records = LocalRecords(tmp_path)
    try:
        batch = records.read("part_changes", 0, 3)
        assert batch.last_id == 3 and [row[0] for row in batch.rows] == [1, 2]  # each part once, as it is now
        assert records.read("part_changes", 4, 10) is None
        assert records.parts_changed_after(2) == 2 and records.parts_changed_after(4) == 0
    finally:
        records.close()


def test_parts_recorded_before_the_change_log_are_noted_once(tmp_path):
    conn = open_database(tmp_path / "hmi.db", migrations=MIGRATIONS[:5])
    with transaction(conn):
        for seq in (3, 1, 2):
            conn.execute(_PART, (seq, "OK", "OK"))
    conn.close()
    conn = open_database(tmp_path / "hmi.db")
    assert _changes(conn) == [1, 2, 3]
    conn.close()


def test_the_shift_of_a_part_matches_the_shift_calendar_across_midnight_and_days():
    calendar = ShiftCalendar(ShiftsConfig(timezone="Europe/Berlin"))
    lookup = ShiftLookup(calendar)
    start = datetime(2026, 3, 27, 0, 0, tzinfo=timezone.utc)  # over the spring clock change
    for minutes in range(0, 5 * 24 * 60, 37):
        moment = start + timedelta(minutes=minutes)
        assert lookup.at(moment) == calendar.containing(moment), moment
