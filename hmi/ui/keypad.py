"""The on-screen PIN keypad, shared by the login screen and the signature panel."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from hmi.ui import theme
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import label

MAX_PIN = 12
KEYS = [("1", 0, 0), ("2", 0, 1), ("3", 0, 2), ("4", 1, 0), ("5", 1, 1), ("6", 1, 2),
        ("7", 2, 0), ("8", 2, 1), ("9", 2, 2), ("Clear", 3, 0), ("0", 3, 1), ("Delete", 3, 2)]
SHOWN = {"Delete": "⌫"}  # the key's face where its word would not fit a narrow pad (the name stays for readers)


class PinPad(QWidget):
    """A masked PIN display over a 3 × 4 keypad; the PIN never leaves it except through `pin`."""

    edited = Signal()

    def __init__(self, touch: TouchSize, *, wide: float = 1.4, tall: float = 1.0, spacing: int = 6,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pin = ""
        self.display: QLabel = label("", "title")
        self.display.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.display.setFixedHeight(touch.px)  # the keys take the height, not the display
        self.display.setStyleSheet(f"background: #EFEFEF; border: 2px solid {theme.BORDER}; letter-spacing: 6px;")
        grid = QGridLayout()
        grid.setSpacing(spacing)
        self.keys: dict[str, object] = {}
        for text, r, c in KEYS:
            b = button(SHOWN.get(text, text), touch, wide=wide, tall=tall, name="primary" if text.isdigit() else "")
            b.setAccessibleName(text)
            b.clicked.connect(lambda _=False, t=text: self.press(t))
            grid.addWidget(b, r, c)
            self.keys[text] = b
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(spacing)
        col.addWidget(self.display)
        col.addLayout(grid)
        self._show()

    @property
    def pin(self) -> str:
        """The digits typed so far."""
        return self._pin

    @pin.setter
    def pin(self, value: str) -> None:
        self._pin = value[:MAX_PIN]
        self._show()

    def press(self, key: str) -> None:
        """One key: a digit, Clear, or Delete."""
        if key == "Clear":
            self._pin = ""
        elif key == "Delete":
            self._pin = self._pin[:-1]
        elif len(self._pin) < MAX_PIN:
            self._pin += key
        self._show()
        self.edited.emit()

    def _show(self) -> None:
        self.display.setText("●" * len(self._pin) if self._pin else "PIN")
