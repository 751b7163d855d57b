"""A reports screen on a real generated records file, with a quality manager logged in when asked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest

from hmi.config.loader import load_station
from hmi.bench.records import generate_week
from hmi.services.reports.shifts import ShiftCalendar
from hmi.store.database import database_path
from hmi.store.users import Role, UserDirectory
from tests.support.report_station import ReportsStation

START = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory) -> Path:
    """Three days of records at one part every 4 s (all three model versions, stops and alarms)."""
    data = tmp_path_factory.mktemp("reports") / "data"
    cfg = load_station(data)
    cal = ShiftCalendar(cfg.shifts)
    generate_week(data, START, rate_hz=0.25, days=6.0,
                  shift_names=lambda t: (cal.containing(t) or cal.window(t.date(), "Early")).name)
    users = UserDirectory(database_path(data))
    admin = users.add("admin", Role.ADMIN, "999999", None)
    users.add("quinn", Role.QUALITY, "246802", admin)
    users.close()
    return data


@pytest.fixture
def reports_screen(qtbot, records_dir):
    """`make(logged_in, settings, overrides, size)`: a ReportsScreen at `size` (1280 x 800) on the generated records,
    with its context; `settings` replaces whole sections of the station file (shifts, reports), `overrides` sets
    single keys ("ui.panel_dpi=141")."""
    from hmi.ui.context import ScreenContext
    from hmi.ui.messages import MessageChannel
    from hmi.ui.screens.reports import ReportsScreen
    from hmi.ui.session import OperatorSession
    from hmi.ui.tasks import BackgroundTasks
    from tests.ui.conftest import present
    from hmi.ui.touch import TouchSize

    made = []

    def make(logged_in: bool = True, settings: dict | None = None, overrides: Sequence[str] = (),
             size: tuple[int, int] = (1280, 800)) -> tuple[ReportsScreen, ScreenContext]:
        cfg = load_station(records_dir, list(overrides))
        for section, value in (settings or {}).items():  # e.g. {"shifts": ShiftsConfig(...)}
            setattr(cfg, section, value)
        channel = MessageChannel()
        channel.attach(lambda message: None)
        tasks = BackgroundTasks(channel)
        users = UserDirectory(database_path(records_dir))
        session = OperatorSession(users, tasks, channel)
        if logged_in:
            session.log_in(users.authenticate("quinn", "246802"))
        station = ReportsStation(cfg, records_dir)
        ctx = ScreenContext(TouchSize.of(cfg.ui), station, tasks, channel, session)
        screen = present(qtbot, ReportsScreen(ctx), size)
        made.append((tasks, users, station))
        return screen, ctx

    yield make
    for tasks, users, station in made:
        tasks.shutdown()
        station.stop()
        users.close()
