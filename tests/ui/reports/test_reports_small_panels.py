"""The shift report on the common touch panels, in the room the station window leaves a screen: every table has
room for three rows, the side-by-side table's headers fit their columns, the Pareto's labels stay inside the chart.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QImage, QPainter

from tests.ui.reports.test_reports_screen import _pick

# (panel dpi, panel size), as docs/screenshots/make_screenshots.py takes them.
PANELS = [(96.0, (1280, 800)), (96.0, (1366, 768)), (141.0, (1920, 1080))]
SHIFT = ("2026-03-06", "Night")  # an alarm and a stop; "contamination", the longest defect name, last in the Pareto


def _room(qtbot, station_factory, open_window, dpi: float, size: tuple[int, int]) -> QSize:
    """The room the station window leaves a screen on a `size` panel at `dpi` (status zone, messages, nav bar)."""
    window = open_window(station_factory(["ok"], overrides=[f"ui.panel_dpi={dpi}"]))
    window.resize(*size)
    qtbot.waitUntil(lambda: window.size() == QSize(*size), timeout=5000)
    return window.stack.size()


def _report_on_panel(qtbot, reports_screen, station_factory, open_window, dpi, size):
    room = _room(qtbot, station_factory, open_window, dpi, size)
    screen, _ctx = reports_screen(overrides=[f"ui.panel_dpi={dpi}"], size=(room.width(), room.height()))
    _pick(qtbot, screen, *SHIFT)
    hint = screen.minimumSizeHint()  # the screen fits its room: nothing scrolls, nothing is cut off
    assert hint.width() <= room.width() and hint.height() <= room.height(), (hint, room)
    return screen


def _inside(screen, widget) -> bool:
    return widget.isVisible() and screen.rect().contains(QRect(widget.mapTo(screen, QPoint(0, 0)), widget.size()))


def _rows_of_room(table) -> int:
    """How many one-line rows the table's viewport shows whole (its shortest row is one line of text)."""
    line = min(table.rowHeight(r) for r in range(table.rowCount()))
    return table.viewport().height() // line


@pytest.mark.parametrize(("dpi", "size"), PANELS)
def test_the_tables_show_three_rows_and_the_pareto_labels_stay_inside_the_chart(qtbot, reports_screen, station_factory,
                                                                                open_window, dpi, size):
    screen = _report_on_panel(qtbot, reports_screen, station_factory, open_window, dpi, size)
    for table in (screen.operators, screen.stops):
        assert _inside(screen, table)
        assert _rows_of_room(table) >= 3, f"{table.horizontalHeaderItem(0).text()}: {table.viewport().height()} px"
    assert [b.text() for b in (screen.export_csv, screen.export_pdf) if not _inside(screen, b)] == []

    chart = screen.pareto
    axis = chart.plot.getPlotItem().getAxis("bottom")
    box = chart.plot.getPlotItem().getViewBox()
    view = box.sceneBoundingRect()
    left, right = box.viewRange()[0]
    slot = view.width() / (right - left)  # each bar's share of the width: one unit of the x axis
    image = QImage(200, 200, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        texts = axis.generateDrawSpecs(painter)[2]
    finally:
        painter.end()
    names = [text.replace("-\n", "").replace("\n", " ") for _rect, _flags, text in texts]
    assert names == [p.defect for p in screen.loaded.main.pareto[:5]] and "contamination" in names
    rects = sorted((axis.mapRectToScene(rect) for rect, _flags, _text in texts), key=lambda r: r.left())
    assert all(view.left() <= r.left() and r.right() <= view.right() for r in rects), (view, rects)
    # No name wider than its bar's share: none runs into the next, none reaches the chart's edge.
    assert [(n, round(r.width())) for n, r in zip(names, rects) if r.width() > slot] == [], f"{slot:.0f} px a bar"


@pytest.mark.parametrize(("dpi", "size"), PANELS)
def test_side_by_side_the_headers_fit_their_columns_and_three_rows_show(qtbot, reports_screen, station_factory,
                                                                        open_window, dpi, size):
    screen = _report_on_panel(qtbot, reports_screen, station_factory, open_window, dpi, size)
    qtbot.mouseClick(screen.compare_buttons["shift before"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.loaded.other is not None and not screen.loading, timeout=20000)
    table = screen.compare_table
    assert _inside(screen, table) and _rows_of_room(table) >= 3
    header = table.horizontalHeader()
    clipped = [f"{table.horizontalHeaderItem(c).text()!r}: {header.sectionSize(c)} < {header.sectionSizeHint(c)} px"
               for c in range(table.columnCount()) if header.sectionSize(c) < header.sectionSizeHint(c)]
    assert clipped == []
