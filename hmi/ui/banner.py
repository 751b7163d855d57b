"""The message banner under the status zone: the latest message of the channel, until dismissed or faded."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QWidget

from hmi.core.alarms import Priority
from hmi.ui.messages import Level, UserMessage
from hmi.ui.symbols import priority_pixmap
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import label

INFO_SHOWN_MS = 8000


class MessageBanner(QFrame):
    """Shows one message with a symbol; errors stay until Dismiss, notices fade after a few seconds."""

    def __init__(self, touch: TouchSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.symbol = QLabel()
        self.symbol_px = touch.px // 2 + 8
        self.symbol.setFixedSize(self.symbol_px, self.symbol_px)
        self.text = label("", wrap=True)
        self.dismiss = button("Dismiss", touch, wide=2.0)
        self.dismiss.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.dismiss.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 4, 10, 4)
        row.addWidget(self.symbol)
        row.addWidget(self.text, 1)
        row.addWidget(self.dismiss)
        self.fade = QTimer(self)
        self.fade.setSingleShot(True)
        self.fade.timeout.connect(self.hide)
        self.shown: UserMessage | None = None
        self.hide()

    def show_message(self, message: UserMessage) -> None:
        """Put `message` on the banner (it replaces the one shown)."""
        self.shown = message
        self.text.setText(message.text)
        error = message.level is Level.ERROR
        self.setObjectName("bannerError" if error else "banner")
        self.setStyleSheet("")  # re-polish for the new object name
        if message.level is Level.INFO:
            self.symbol.setPixmap(QPixmap())
            self.symbol.hide()
            self.fade.start(INFO_SHOWN_MS)
        else:
            self.symbol.setPixmap(priority_pixmap(Priority.HIGH if error else Priority.MEDIUM, self.symbol_px))
            self.symbol.show()
            self.fade.stop()
        self.show()
