"""Read-only tables: a row is as tall as its wrapped text, whatever width the layout gives the columns later."""

from __future__ import annotations

from hmi.ui.widgets import fill_table, read_only_table

ALARM = "PLC_SILENT: PLC 192.168.0.10 heartbeat stopped: parts are being rejected — check the PLC program (is the PLC in RUN?)"


def test_rows_grow_with_their_wrapped_text_when_the_columns_narrow(qtbot) -> None:
    table = read_only_table(["When", "What", "Minutes"], 14)
    qtbot.addWidget(table)
    table.resize(1200, 300)
    table.show()
    qtbot.waitExposed(table)
    fill_table(table, [("15:53", ALARM, "24.1")])  # filled while wide: one line
    one_line = table.rowHeight(0)
    table.resize(420, 300)  # the layout narrows it (a smaller panel, a side-by-side report)
    qtbot.waitUntil(lambda: table.rowHeight(0) > one_line)
    assert table.rowHeight(0) >= table.sizeHintForRow(0)  # the whole text fits: nothing cut at the bottom


def test_a_dense_tables_rows_are_one_line_of_text_tall_and_still_grow_with_wrapped_text(qtbot) -> None:
    table = read_only_table(["When", "What", "Minutes"], 14, dense=True)
    qtbot.addWidget(table)
    table.resize(1200, 300)
    table.show()
    qtbot.waitExposed(table)
    fill_table(table, [("15:53", "Stop: PLC_SILENT", "24.0"), ("15:53", ALARM, "24.1")])
    line = table.fontMetrics().height()
    assert line < table.rowHeight(0) <= 1.6 * line  # one line and a small margin, not two lines' worth
    table.resize(420, 300)
    qtbot.waitUntil(lambda: table.rowHeight(1) > table.rowHeight(0))
    assert table.rowHeight(1) >= table.sizeHintForRow(1)
