"""The message zone: a fixed slot that never moves other controls, a list newest first, repeats counted, the log."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from hmi.core.errors import PlcError


def _where(window, widget) -> tuple[QPoint, int, int]:
    return widget.mapTo(window, QPoint(0, 0)), widget.width(), widget.height()


@pytest.mark.expected_errors("^PLC 192.168.0.10 not answering")
def test_ui_messages_never_move_the_keypad_and_wait_in_a_list_newest_first(qtbot, station_factory, open_window,
                                                                          caplog):
    station = station_factory(["ok"])
    station.start()
    window = open_window(station)
    window.show_screen("login")
    keys = [window.login.keys[d] for d in ("1", "5", "9", "0")]
    QApplication.processEvents()
    before = [_where(window, k) for k in keys]

    caplog.set_level(logging.INFO, logger="hmi.ui.messages")
    window.channel.info("PDF shift report written to /media/usb/shift.pdf")
    for seq in (7601, 7602, 7603, 7604):  # one HOLD time-out after another, every few seconds
        window.channel.warning(f"Part {seq} was not reviewed within 60 s: judged NG by the recipe's default",
                               "check the part in the reject bin")
    QApplication.processEvents()
    assert [_where(window, k) for k in keys] == before  # showing messages moved nothing

    banner = window.banner
    assert len(banner.queue.entries) == 2  # the repeats are one entry with a count
    assert "Part 7604 was not reviewed" in banner.text.text() and "×4" in banner.text.text()
    assert banner.count.text() == "All 2"
    assert sum("was not reviewed" in r.getMessage() for r in caplog.records) == 4  # each one in the log

    qtbot.mouseClick(banner.count, Qt.MouseButton.LeftButton)
    shown = banner.list
    assert shown is not None and shown.isVisible()
    texts = [row.text.text() for row in shown.shown_rows]
    assert "Part 7604" in texts[0] and "PDF shift report written to /media/usb/shift.pdf" in texts[1]
    qtbot.mouseClick(shown.shown_rows[0].dismiss, Qt.MouseButton.LeftButton)
    assert [row.text.text() for row in shown.shown_rows] == ["PDF shift report written to /media/usb/shift.pdf"]
    assert banner.text.text() == "PDF shift report written to /media/usb/shift.pdf"
    qtbot.mouseClick(shown.close_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(banner.dismiss, Qt.MouseButton.LeftButton)
    assert banner.queue.entries == [] and banner.text.text() == "No messages"
    QApplication.processEvents()
    assert [_where(window, k) for k in keys] == before  # nor did dismissing them

    window.channel.error(PlcError("PLC 192.168.0.10 not answering", "check the cable; parts are being rejected"))
    QApplication.processEvents()
    assert [_where(window, k) for k in keys] == before
    assert banner.objectName() == "bannerError"


@pytest.mark.expected_errors("^The screen could not finish what was asked")
def test_ui_an_unexpected_error_is_plain_words_on_screen_and_the_exception_in_the_log(qtbot, station_factory,
                                                                                   open_window, caplog):
    station = station_factory(["ok"])
    window = open_window(station)
    try:
        {}["threshold"]
    except KeyError as exc:
        window.channel.error(exc)
    words = window.banner.text.text()
    assert "KeyError" not in words and "'threshold'" not in words and "log" in words
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is KeyError]
    assert logged and "'threshold'" in logging.Formatter().formatException(logged[0].exc_info)
