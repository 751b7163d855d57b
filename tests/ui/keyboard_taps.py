"""Typing by taps on the on-screen keyboard (hmi.ui.keyboard), for the UI tests."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt

from hmi.ui.keyboard import ScreenKeyboard

LEFT = Qt.MouseButton.LeftButton


def tap(qtbot, widget) -> None:
    """Tap like a finger."""
    qtbot.mouseClick(widget, LEFT)


def open_keys(qtbot, keyboard: ScreenKeyboard, field, kind: str):
    """Tap `field` at its end; the `kind` keys open beside it, never over it, inside the window; returns the keys."""
    qtbot.mouseClick(field, LEFT, pos=QPoint(field.width() - 6, field.height() // 2))
    board = keyboard.keyboard
    assert board.isVisible() and board.target is field and board.kind == kind
    host = keyboard.host
    spot = QRect(field.mapTo(host, QPoint(0, 0)), field.size())
    assert not board.geometry().intersects(spot), (board.geometry(), spot)
    assert host.rect().contains(board.geometry()), (board.geometry(), host.rect())
    return board.keys


def type_on(qtbot, keyboard: ScreenKeyboard, text: str, *, ok: bool = True) -> None:
    """Type `text` on the open keyboard (Shift for capitals), then OK."""
    keys = keyboard.keyboard.keys
    for char in text:
        if char.isupper():
            tap(qtbot, keys["shift"])
        tap(qtbot, keys["space" if char == " " else char.lower()])
    if ok:
        tap(qtbot, keys["ok"])
        assert not keyboard.keyboard.isVisible()
