"""The reports screen's Plant scope on a real PostgreSQL: the switch exists only with [plant]; the previous shift's
figures of every station (or this station's line) are read on the station's report thread; a plant server that
is away is one message in the Plant scope and the station scope works on. Driven by taps."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QPushButton

from hmi.config.loader import load_station
from hmi.plant.database import connect, ensure_partitions, migrate
from hmi.services.reports.shifts import ShiftCalendar
from hmi.store.database import database_path
from hmi.store.users import Role, UserDirectory
from hmi.ui.touch import undersized
from tests.support.postgres import plant_db, postgres_server  # noqa: F401
from tests.support.report_station import ReportsStation

# Parts per station in the previous shift: (line, parts, NG scratches, NOT INSPECTED)
STATIONS = {"L1-S1": ("L1", 30, 3, 1), "L1-S2": ("L1", 20, 2, 0), "L2-S1": ("L2", 10, 0, 0)}


def seed_previous_shift(db, cfg) -> None:
    """The three stations' parts in this station's previous shift, written into the plant schema."""
    window = ShiftCalendar(cfg.shifts).previous()
    rows, regions = [], []
    for station, (line, parts, ng, not_inspected) in STATIONS.items():
        for seq in range(1, parts + 1):
            at = window.start + timedelta(minutes=5, seconds=7 * seq)
            verdict = "NG" if seq <= ng else "NOT_INSPECTED" if seq <= ng + not_inspected else "OK"
            rows.append((station, seq, line, window.name, window.start, at, verdict, verdict))
            if verdict == "NG":
                regions.append((station, seq, at, "scratch"))
    with connect(db.plant_config("VIEW")) as conn:
        migrate(conn)
        ensure_partitions(conn, [window.start, window.end])
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany("INSERT INTO parts (station_id, seq, line, shift, shift_start, captured_at, recipe, "
                            "model_name, model_sha256, score, auto_verdict, verdict, plc_status) VALUES "
                            "(%s, %s, %s, %s, %s, %s, 'demo', 'demo-part', 'abc', 1.0, %s, %s, 'delivered')", rows)
            cur.executemany("INSERT INTO regions (station_id, seq, idx, captured_at, x, y, w, h, area_px, label) "
                            "VALUES (%s, %s, 0, %s, 1, 1, 5, 5, 25, %s)", regions)
            cur.executemany("INSERT INTO stations (station_id, name, line, local_high_seq, local_high_at) "
                            "VALUES (%s, %s, %s, %s, %s)",
                            [(s, s, line, n, window.start + timedelta(minutes=5, seconds=7 * n))
                             for s, (line, n, _, _) in STATIONS.items()])


@pytest.fixture
def reports_screen(qtbot, tmp_path):
    """`make(settings)`: a ReportsScreen at 1280 x 800 on a station data folder with `settings` (--set)."""
    from hmi.ui.context import ScreenContext
    from hmi.ui.messages import MessageChannel
    from hmi.ui.screens.reports import ReportsScreen
    from hmi.ui.session import OperatorSession
    from hmi.ui.tasks import BackgroundTasks
    from hmi.ui.touch import TouchSize
    from tests.ui.conftest import present

    made = []

    def make(settings: list[str]):
        data = tmp_path / f"station{len(made)}"
        cfg = load_station(data, settings)
        users = UserDirectory(database_path(data))
        admin = users.add("admin", Role.ADMIN, "999999", None)
        users.add("quinn", Role.QUALITY, "246802", admin)
        channel = MessageChannel()
        channel.attach(lambda message: None)
        tasks = BackgroundTasks(channel)
        session = OperatorSession(users, tasks, channel)
        session.log_in(users.authenticate("quinn", "246802"))
        station = ReportsStation(cfg, data)
        ctx = ScreenContext(TouchSize.of(cfg.ui), station, tasks, channel, session)
        made.append((tasks, users, station))
        return present(qtbot, ReportsScreen(ctx)), ctx

    yield make
    for tasks, users, station in made:
        tasks.shutdown()
        station.stop()
        users.close()


def _tap(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _figure(screen, name: str) -> str:
    return screen.plant.figure_labels[name][1].text()


def _cut_off(screen) -> list[str]:
    """The words of the shown choice buttons too narrow for them in bold (as when chosen), inside padding and border."""
    cut = []
    for b in screen.findChildren(QPushButton):
        bold = QFont(b.font())
        bold.setBold(True)
        if b.isVisibleTo(screen) and b.isCheckable() and b.width() < QFontMetrics(bold).horizontalAdvance(b.text()) + 30:
            cut.append(b.text())
    return cut


def _stations_shown(screen) -> dict[str, str]:
    table = screen.plant.stations
    return {table.item(r, 0).text(): table.item(r, 2).text() for r in range(table.rowCount())}


def test_without_a_plant_database_there_is_no_scope_switch(qtbot, reports_screen):
    screen, _ = reports_screen([])
    assert screen.scope_buttons == {} and screen.plant is None
    assert not [b for b in screen.findChildren(QPushButton) if b.text() in ("Plant", "This station")]


def test_plant_scope_shows_every_station_then_this_line_and_exports(qtbot, reports_screen, plant_db):
    screen, ctx = reports_screen([*plant_db.overrides("L1-S1"), "plant.line=L1"])
    seed_previous_shift(plant_db, ctx.station.cfg)
    assert set(screen.scope_buttons) == {"station", "plant"} and screen.scope_buttons["station"].isChecked()
    assert not screen.line_buttons["line"].isVisibleTo(screen)
    screen.on_show()
    assert _cut_off(screen) == []

    _tap(qtbot, screen.scope_buttons["plant"])
    qtbot.waitUntil(lambda: screen.plant_loaded is not None, timeout=20000)
    assert screen.bodies.currentWidget() is screen.plant
    assert ctx.station.reports.alive          # read on the station's report thread, not on the screen's
    assert _figure(screen, "Parts") == "60" and _figure(screen, "Stations") == "3 on 2 line(s)"
    assert _stations_shown(screen) == {"L1-S1": "30", "L1-S2": "20", "L2-S1": "10"}
    assert [(p.defect, p.parts) for p in screen.plant_loaded.pareto] == [("scratch", 5), ("not inspected", 1)]
    assert screen.plant.pareto.plot.getPlotItem().items       # the Pareto's bars are drawn
    assert screen.plant.title.text().startswith(f"Plant — {screen.calendar.previous().label}")
    assert not screen.compare_buttons["off"].isVisibleTo(screen)
    assert undersized(screen, ctx.touch) == []
    hint = screen.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 800, hint

    _tap(qtbot, screen.line_buttons["line"])
    qtbot.waitUntil(lambda: screen.plant_loaded is not None and screen.plant_loaded.line == "L1", timeout=20000)
    assert _cut_off(screen) == []  # the chosen scope and line in bold, whole
    assert _figure(screen, "Parts") == "50" and _stations_shown(screen) == {"L1-S1": "30", "L1-S2": "20"}

    _tap(qtbot, screen.export_csv)
    qtbot.waitUntil(lambda: any("CSV plant report" in m.what for m in ctx.channel.history), timeout=20000)
    out = next(Path(m.what.rsplit(" written to ", 1)[1]) for m in ctx.channel.history if "CSV plant report" in m.what)
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert out.parent == ctx.station.data_dir / "exports" and out.name.endswith("_L1.csv")
    assert [r["parts"] for r in rows if r["table"] == "plant"] == ["50"]


def test_a_plant_server_away_is_one_message_and_the_station_scope_works_on(qtbot, reports_screen, plant_db):
    closed = plant_db.url.replace(f":{plant_db.server.port}/", ":9/")   # nothing listens on the discard port
    screen, ctx = reports_screen([f"plant.database={closed}", "plant.station_id=L1-S1"])
    _tap(qtbot, screen.scope_buttons["plant"])
    qtbot.waitUntil(lambda: not screen.plant_loading and screen.plant.problem.isVisibleTo(screen), timeout=20000)
    words = screen.plant.problem.text()
    assert words.startswith("plant database not reachable: the plant database 127.0.0.1:9/")
    assert "the station's own report is still available" in words and plant_db.password not in words
    assert screen.plant_loaded is None and not ctx.channel.history   # no banner: the message is in the scope

    _tap(qtbot, screen.scope_buttons["station"])
    qtbot.waitUntil(lambda: not screen.loading and screen.loaded is not None, timeout=20000)
    assert screen.bodies.currentIndex() == 0 and screen.title.text() == screen.calendar.previous().label
    assert screen.compare_buttons["off"].isVisibleTo(screen)
    assert datetime.now(timezone.utc) >= screen.loaded.main.window.start
