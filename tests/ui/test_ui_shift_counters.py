"""'This shift' on the live screen counts the shift in progress from the records, not the parts since the start."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from hmi.config.schema import ShiftsConfig
from hmi.services.reports.shifts import ShiftCalendar
from hmi.store.database import database_path
from tests.unit.reports.conftest import part, write


def _recorded(station, window) -> dict[str, int]:
    conn = sqlite3.connect(database_path(station.data_dir))
    try:
        return dict(conn.execute("SELECT auto_verdict, count(*) FROM inspections WHERE captured_at >= ? "
                                 "AND captured_at < ? GROUP BY auto_verdict", (window.start_text, window.end_text)))
    finally:
        conn.close()


def test_ui_this_shift_counts_the_shifts_parts_from_the_records(qtbot, station_factory, open_window, tmp_path):
    calendar = ShiftCalendar(ShiftsConfig())  # the station's shifts (the default calendar)
    now = datetime.now(timezone.utc)
    shift, before = calendar.current(now), calendar.previous(now)
    # Judged before this start: 30 parts in the shift before, and 12 (3 NG) earlier in this shift.
    earlier = [shift.start + (now - shift.start) * (i + 1) / 14 for i in range(12)]
    rows = [part(i + 1, before.start + timedelta(minutes=i), "OK") for i in range(30)]
    rows += [part(31 + i, at, "NG" if i % 4 == 0 else "OK") for i, at in enumerate(earlier)]
    write(tmp_path / "s0" / "data", rows)  # the records the station below (station_factory's first) opens
    station = station_factory(["ok", "ng", "ok"], rate_hz=5.0)
    assert station.cfg.shifts == ShiftsConfig()
    station.start()
    window = open_window(station)
    qtbot.waitUntil(lambda: station.outlet.counts().total >= 4, timeout=20000)

    def shown_as_recorded() -> bool:
        recorded = _recorded(station, shift)
        values = window.live.counters.values
        return (values["Total"].text() == str(sum(recorded.values()))
                and values["NG"].text() == str(recorded.get("NG", 0)))

    qtbot.waitUntil(shown_as_recorded, timeout=20000)
    assert int(window.live.counters.values["Total"].text()) >= 12 + 4  # the earlier parts of this shift count too
    assert window.live.counters.title.text().startswith(f"This shift ({shift.name}, from ")
