"""The on-screen keyboard (text and numeric): a tap on any text field of the window opens it beside the field.

One `ScreenKeyboard`, installed once by the window as an application event filter, serves every field of
that window: a QLineEdit, QSpinBox, QDoubleSpinBox or QPlainTextEdit that is tapped gets the keyboard, docked
above or below it so the field stays in sight. The keys send key events to the field, as a physical
keyboard would, so validators, `textEdited` and `editingFinished` behave as the screens expect. A field
chooses its keyboard with the property `keyboard`: "numeric", "text", or "none" (no keyboard, e.g. a PIN
field that has its own keypad); without it, a field with a number validator or a spin box gets the numeric
keys, any other the text keys.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt
from PySide6.QtGui import QDoubleValidator, QIntValidator, QKeyEvent
from PySide6.QtWidgets import (QAbstractSpinBox, QApplication, QDateTimeEdit, QDoubleSpinBox, QFrame, QGridLayout,
                               QLineEdit, QPlainTextEdit, QPushButton, QSpinBox, QStackedLayout, QVBoxLayout, QWidget)
from shiboken6 import isValid

from hmi.ui import theme
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import label

PROPERTY = "keyboard"           # a field's choice: "numeric", "text" or "none"
MARGIN = 8
SPACING = 6
# Text keys: (key, column, row, columns spanned); a key is its lower-case character or a command word.
TEXT_KEYS = [*((c, i, 0, 1) for i, c in enumerate("1234567890")), ("backspace", 10, 0, 2),
             *((c, i, 1, 1) for i, c in enumerate("qwertyuiop-")), ("_", 11, 1, 1),
             *((c, i, 2, 1) for i, c in enumerate("asdfghjkl.,")), ("/", 11, 2, 1),
             ("shift", 0, 3, 2), *((c, i + 2, 3, 1) for i, c in enumerate("zxcvbnm")), (":", 9, 3, 1),
             ("cancel", 10, 3, 2),
             ("space", 0, 4, 9), ("ok", 9, 4, 3)]
NUMBER_KEYS = [("7", 0, 0, 1), ("8", 1, 0, 1), ("9", 2, 0, 1), ("backspace", 3, 0, 1),
               ("4", 0, 1, 1), ("5", 1, 1, 1), ("6", 2, 1, 1), ("sign", 3, 1, 1),
               ("1", 0, 2, 1), ("2", 1, 2, 1), ("3", 2, 2, 1), (".", 3, 2, 1),
               ("cancel", 0, 3, 1), ("0", 1, 3, 1), ("ok", 2, 3, 2)]
WORDS = {"backspace": "⌫", "shift": "⇧ Shift", "cancel": "Cancel", "space": "Space", "ok": "OK ⏎", "sign": "+/−"}
HINT = "OK keeps it, Cancel puts the old text back"
COMMAND_KEYS = {"backspace": Qt.Key.Key_Backspace, "ok": Qt.Key.Key_Return}


def keyboard_kind(field: QWidget) -> str:
    """Which keys `field` gets: "numeric", "text", or "none" (read-only, disabled, or opted out)."""
    chosen = field.property(PROPERTY)
    if chosen in ("numeric", "text", "none"):
        return chosen
    if not field.isEnabled() or getattr(field, "isReadOnly", lambda: False)():
        return "none"
    if isinstance(field, (QSpinBox, QDoubleSpinBox)):
        return "numeric"
    if isinstance(field, QLineEdit):
        return "numeric" if isinstance(field.validator(), (QIntValidator, QDoubleValidator)) else "text"
    return "text" if isinstance(field, QPlainTextEdit) else "none"


def field_of(widget: QObject) -> QWidget | None:
    """The text field a tap on `widget` lands in (a spin box's inner line edit, a text box's viewport), if any."""
    for w in (widget, widget.parent() if isinstance(widget, QWidget) else None):
        if isinstance(w, QDateTimeEdit):
            return None  # dates are picked on its calendar
        if isinstance(w, (QSpinBox, QDoubleSpinBox, QPlainTextEdit)):
            return w
    if isinstance(widget, QLineEdit) and not isinstance(widget.parent(), QAbstractSpinBox):
        return widget
    return None


class OnScreenKeyboard(QFrame):
    """The keys, on two pages (text, numeric); they type into `target` without taking its focus."""

    def __init__(self, touch: TouchSize, parent: QWidget) -> None:
        super().__init__(parent)
        self.touch = touch
        self.setObjectName("keyboard")
        self.setStyleSheet(f"QFrame#keyboard {{ background: {theme.PANEL_DARK}; border: 3px solid {theme.TEXT}; }}")
        self.target: QWidget | None = None
        self.kind = "text"
        self._original: object = None
        self._shifted = False
        self.what = label("", "dim")
        self._pages = QStackedLayout()
        self.text_keys = self._page(TEXT_KEYS)
        self.number_keys = self._page(NUMBER_KEYS)
        col = QVBoxLayout(self)
        col.setContentsMargins(MARGIN, MARGIN // 2, MARGIN, MARGIN)
        col.setSpacing(SPACING // 2)
        col.addWidget(self.what)
        col.addLayout(self._pages)
        self.hide()

    def _page(self, spec) -> dict[str, QPushButton]:
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(SPACING)
        self._pages.addWidget(page)
        keys: dict[str, QPushButton] = {}
        for key, column, row, span in spec:
            b = button(WORDS.get(key, key), self.touch, name="primary" if key == "ok" else "")
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the field keeps the focus and its cursor
            b.setAutoRepeat(key == "backspace")
            b.setCheckable(key == "shift")
            b.clicked.connect(lambda _=False, k=key: self.press(k))
            grid.addWidget(b, row, column, 1, span)
            keys[key] = b
        return keys

    @property
    def keys(self) -> dict[str, QPushButton]:
        """The keys on show (the text or the numeric page), by character or command word."""
        return self.number_keys if self.kind == "numeric" else self.text_keys

    # --- open and close ----------------------------------------------------------------------
    def open_for(self, field: QWidget, kind: str) -> None:
        """Show the `kind` keys for `field`, docked above or below it so the field stays in sight."""
        self.target, self.kind = field, kind
        self._original = self._value(field)
        self._shifted = False
        self._show_case()
        self._pages.setCurrentIndex(1 if kind == "numeric" else 0)
        name = field.accessibleName()
        self.what.setText(f"{name}: {HINT}" if name else HINT)
        if kind == "numeric" and isinstance(field, (QLineEdit, QAbstractSpinBox)):
            field.selectAll()  # a number is typed anew: the first key replaces it
        self.place(field)
        self.show()
        self.raise_()

    def close_keys(self) -> None:
        """Put the keyboard away; what was typed stays in the field."""
        self.target = None
        self.hide()

    def place(self, field: QWidget) -> None:
        """Size the keys for the room above or below `field` (never under the smallest target) and put the keyboard there."""
        host = self.parentWidget()
        spec = NUMBER_KEYS if self.kind == "numeric" else TEXT_KEYS
        columns = max(c + s for _k, c, _r, s in spec)
        rows = max(r for _k, _c, r, _s in spec) + 1
        spot = QRect(field.mapTo(host, QPoint(0, 0)), field.size())
        chrome = 2 * MARGIN + self.what.sizeHint().height() + (rows - 1) * SPACING + 6
        smallest, best = self.touch.px, self.touch.primary_px  # keys shrink to the least only when room is short
        below, above = host.height() - spot.bottom() - 1 - MARGIN, spot.top() - MARGIN
        fits_below = below >= chrome + rows * best
        room = below if fits_below or below >= above else above
        key_h = max(smallest, min(best, (room - chrome) // rows))
        across = (host.width() - 2 * MARGIN - 6 - (columns - 1) * SPACING) // columns
        key_w = max(smallest, min(round(best * (2.0 if self.kind == "numeric" else 1.5)), across))
        for b in self.keys.values():
            b.setMinimumSize(0, 0)
            b.setFixedHeight(key_h)
        for key, _c, _r, span in spec:
            self.keys[key].setFixedWidth(key_w * span + SPACING * (span - 1))
        width = columns * key_w + (columns - 1) * SPACING + 2 * MARGIN + 6
        height = chrome + rows * key_h
        x = min(max(0, spot.center().x() - width // 2), max(0, host.width() - width))
        y = spot.bottom() + 1 + MARGIN // 2 if room == below else max(0, spot.top() - MARGIN // 2 - height)
        self.setGeometry(x, y, width, height)

    # --- keys ------------------------------------------------------------------------------
    def press(self, key: str) -> None:
        """One key: a character into the field, or backspace, shift, sign, OK, Cancel."""
        field = self.target
        if field is None or not isValid(field):
            self.close_keys()
            return
        if key == "shift":
            self._shifted = not self._shifted
            self._show_case()
        elif key == "cancel":
            self._restore(field, self._original)
            self.close_keys()
        elif key == "sign":
            self._toggle_sign(field)
        elif key in COMMAND_KEYS:
            self._send(field, COMMAND_KEYS[key])
            if key == "ok":
                field.clearFocus()
                self.close_keys()
        else:
            char = " " if key == "space" else key.upper() if self._shifted else key
            self._send(field, Qt.Key.Key_unknown, char)
            if self._shifted:
                self._shifted = False
                self._show_case()

    def _show_case(self) -> None:
        for key, b in self.text_keys.items():
            if len(key) == 1 and key.isalpha():
                b.setText(key.upper() if self._shifted else key)
        self.text_keys["shift"].setChecked(self._shifted)

    @staticmethod
    def _send(field: QWidget, key: Qt.Key, text: str = "") -> None:
        if isinstance(field, QPlainTextEdit) and key == Qt.Key.Key_Return:
            return  # OK ends the typing; a new line is typed with no key here
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.sendEvent(field, QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier, text))

    def _toggle_sign(self, field: QWidget) -> None:
        if isinstance(field, (QSpinBox, QDoubleSpinBox)):
            field.setValue(-field.value())
            return
        if isinstance(field, QLineEdit):
            at = field.cursorPosition()
            field.setCursorPosition(0)
            if field.text().startswith("-"):
                self._send(field, Qt.Key.Key_Delete)
                field.setCursorPosition(max(0, at - 1))
            else:
                self._send(field, Qt.Key.Key_unknown, "-")
                field.setCursorPosition(at + 1 if field.text().startswith("-") else at)

    @staticmethod
    def _value(field: QWidget) -> object:
        if isinstance(field, (QSpinBox, QDoubleSpinBox)):
            return field.value()
        return field.toPlainText() if isinstance(field, QPlainTextEdit) else field.text()  # type: ignore[union-attr]

    @staticmethod
    def _restore(field: QWidget, value: object) -> None:
        if isinstance(field, (QSpinBox, QDoubleSpinBox)):
            field.setValue(value)  # type: ignore[arg-type]
        elif isinstance(field, QPlainTextEdit):
            field.setPlainText(str(value))
        elif isinstance(field, QLineEdit):
            field.setText(str(value))


class ScreenKeyboard(QObject):
    """Opens the on-screen keyboard for any text field of `host` that is tapped; install with `install()`."""

    def __init__(self, touch: TouchSize, host: QWidget) -> None:
        super().__init__(host)
        self.host = host
        self.keyboard = OnScreenKeyboard(touch, host)
        self._pressed: QWidget | None = None

    def install(self) -> None:
        """Watch the application's taps (once per window)."""
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def remove(self) -> None:
        """Stop watching (the window closes)."""
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.keyboard.close_keys()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """A tap on a field opens the keys for it; a tap elsewhere puts them away; a field gone takes them along."""
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress and isinstance(watched, QWidget):
            self._pressed = field_of(watched)
            board = self.keyboard
            if board.isVisible() and self._pressed is not board.target and not board.isAncestorOf(watched) \
                    and watched is not board:
                board.close_keys()
        elif kind == QEvent.Type.MouseButtonRelease and isinstance(watched, QWidget):
            field = field_of(watched)
            if field is not None and field is self._pressed and field.window() is self.host.window():
                self._pressed = None
                chosen = keyboard_kind(field)
                if chosen != "none" and (field is not self.keyboard.target or not self.keyboard.isVisible()):
                    self.keyboard.open_for(field, chosen)
        elif kind == QEvent.Type.Hide and watched is self.keyboard.target:
            self.keyboard.close_keys()
        return False


__all__ = ["OnScreenKeyboard", "ScreenKeyboard", "keyboard_kind", "field_of", "PROPERTY"]
