"""The reports screen on a real records file: pick a shift, read it, compare, export; touch targets."""

from __future__ import annotations

import csv

import pypdfium2 as pdfium
import pytest
from PySide6.QtCore import Qt

from hmi.services.reports.connection import open_reports
from hmi.services.reports.shifts import ShiftCalendar
from hmi.ui.messages import Level
from hmi.ui.touch import undersized


def _wait(qtbot, screen) -> None:
    qtbot.waitUntil(lambda: not screen.loading and screen.loaded is not None, timeout=20000)


def _pick(qtbot, screen, day: str, shift: str) -> None:
    while screen.day.isoformat() > day:
        qtbot.mouseClick(screen.day_back, Qt.MouseButton.LeftButton)
    while screen.day.isoformat() < day:
        screen._move_day(+1)
    qtbot.mouseClick(screen.shift_buttons[shift], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.loaded is not None and screen.loaded.main.window.key == f"{day} {shift}",
                    timeout=20000)


def test_a_picked_shift_shows_the_figures_the_records_hold(qtbot, reports_screen, records_dir):
    screen, ctx = reports_screen()
    screen.on_show()
    _wait(qtbot, screen)
    _pick(qtbot, screen, "2026-03-03", "Early")
    window = ShiftCalendar(ctx.station.cfg.shifts).resolve("2026-03-03 Early")
    conn = open_reports(records_dir)
    parts = conn.execute("SELECT count(*) FROM inspections WHERE captured_at >= ? AND captured_at < ?",
                         (window.start_text, window.end_text)).fetchone()[0]
    conn.close()
    assert screen.figure_labels["Parts"][1].text() == f"{parts:,}"
    assert screen.title.text().startswith("Early 2026-03-03")
    assert "CAMERA_LOST" in "".join(screen.stops.item(r, 1).text() for r in range(screen.stops.rowCount()))
    assert screen.operators.rowCount() >= 1 and screen.operators.item(0, 0).text() in ("anna", "ben")
    assert undersized(screen, ctx.touch) == []
    hint = screen.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 800, hint   # fits the 1280 x 800 panel at 15 mm touch size


def test_side_by_side_with_the_shift_before_and_between_model_versions(qtbot, reports_screen):
    screen, _ = reports_screen()
    _pick(qtbot, screen, "2026-03-04", "Late")
    qtbot.mouseClick(screen.compare_buttons["shift before"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.loaded.other is not None, timeout=20000)
    assert screen.loaded.other.window.key == "2026-03-04 Early"
    assert screen.compare_table.isVisibleTo(screen) and screen.compare_table.item(0, 0).text() == "Parts"
    qtbot.mouseClick(screen.compare_buttons["model versions"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.loaded.other is not None and screen.loaded.main.model_sha256 is not None,
                    timeout=20000)
    assert screen.loaded.main.model_sha256 != screen.loaded.other.model_sha256
    assert "model" in screen.title.text()


def test_export_csv_writes_one_row_per_part_and_says_where(qtbot, reports_screen, records_dir):
    screen, ctx = reports_screen()
    _pick(qtbot, screen, "2026-03-03", "Night")
    qtbot.mouseClick(screen.export_csv, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any("CSV of" in m.what for m in ctx.channel.history), timeout=20000)
    out = records_dir / "exports" / "shift_2026-03-03_Night.csv"
    message = next(m for m in ctx.channel.history if "CSV of" in m.what)
    assert str(out) in message.what
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) - 1 == screen.loaded.main.parts
    qtbot.mouseClick(screen.export_pdf, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any("PDF shift report" in m.what for m in ctx.channel.history), timeout=20000)
    pdf = pdfium.PdfDocument(str(records_dir / "exports" / "shift_2026-03-03_Night.pdf"))
    assert len(pdf) >= 2 and "Night 2026-03-03" in pdf[0].get_textpage().get_text_range()
    pdf.close()


@pytest.mark.expected_errors("only a quality manager can export records")
def test_export_needs_a_user_who_may_export(qtbot, reports_screen):
    screen, ctx = reports_screen(logged_in=False)
    screen.prepare_screenshot()
    qtbot.mouseClick(screen.export_csv, Qt.MouseButton.LeftButton)
    errors = [m for m in ctx.channel.history if m.level is Level.ERROR]
    assert errors and errors[-1].todo
