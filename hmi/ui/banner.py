"""The message zone under the status zone: a fixed slot with the newest message and a list of all waiting ones.

The slot keeps its height whether or not a message waits, so showing or dismissing one never moves
another control (the login keypad, setup, records). Tapping the slot opens the list, newest first,
where each message can be read in full and dismissed; repeats are one entry with a count.
"""

from __future__ import annotations

from datetime import datetime, timezone

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from hmi.core.alarms import Priority
from hmi.ui.messages import Level, MessageQueue, QueuedMessage, UserMessage
from hmi.ui.symbols import priority_pixmap
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import label

EXPIRE_CHECK_MS = 1000
_SYMBOL = {Level.ERROR: Priority.HIGH, Level.WARNING: Priority.MEDIUM}


def entry_text(entry: QueuedMessage) -> str:
    """An entry in words: the message, and how often and since when it came when it repeated."""
    text = entry.message.text
    if entry.count > 1:
        since = entry.first_at.astimezone().strftime("%H:%M:%S")
        text += f"  (×{entry.count} since {since})"
    return text


def _symbol(level: Level, px: int) -> QPixmap:
    return priority_pixmap(_SYMBOL[level], px) if level in _SYMBOL else QPixmap()


class MessageRow(QFrame):
    """One entry of the list: symbol, time, full text and its own Dismiss."""

    def __init__(self, entry: QueuedMessage, touch: TouchSize, symbol_px: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry = entry
        self.setObjectName("bannerError" if entry.message.level is Level.ERROR else "banner")
        symbol = QLabel()
        symbol.setFixedSize(symbol_px, symbol_px)
        symbol.setPixmap(_symbol(entry.message.level, symbol_px))
        when = label(entry.last_at.astimezone().strftime("%H:%M:%S"), "dim")
        self.text = label(entry_text(entry), wrap=True)
        self.dismiss = button("Dismiss", touch, wide=2.0)
        self.dismiss.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(symbol)
        row.addWidget(when)
        row.addWidget(self.text, 1)
        row.addWidget(self.dismiss)


class MessageList(QFrame):
    """Every waiting message, newest first, over the screen (not in its layout, so nothing moves)."""

    def __init__(self, banner: "MessageBanner", touch: TouchSize, parent: QWidget) -> None:
        super().__init__(parent)
        self.banner = banner
        self.touch = touch
        self.setObjectName("panel")
        self.setAutoFillBackground(True)
        self.title = label("", "title")
        self.dismiss_all = button("Dismiss all", touch, wide=2.4)
        self.close_button = button("Close", touch, wide=2.0)
        self.dismiss_all.clicked.connect(banner.dismiss_all)
        self.close_button.clicked.connect(self.hide)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.dismiss_all)
        head.addWidget(self.close_button)
        self.rows_widget = QWidget()
        self.rows = QVBoxLayout(self.rows_widget)
        self.rows.setContentsMargins(0, 0, 0, 0)
        self.rows.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.rows_widget)
        col = QVBoxLayout(self)
        col.setContentsMargins(10, 8, 10, 8)
        col.addLayout(head)
        col.addWidget(scroll, 1)
        self.shown_rows: list[MessageRow] = []
        self.hide()

    def refill(self, entries: list[QueuedMessage]) -> None:
        """Show `entries` (newest first)."""
        for row in self.shown_rows:
            self.rows.removeWidget(row)
            row.deleteLater()
        self.shown_rows = []
        for i, entry in enumerate(entries):
            row = MessageRow(entry, self.touch, self.banner.symbol_px)
            row.dismiss.clicked.connect(lambda _=False, e=entry: self.banner.dismiss_entry(e))
            self.rows.insertWidget(i, row)
            self.shown_rows.append(row)
        n = len(entries)
        self.title.setText(f"Messages, newest first ({n})" if n else "No messages waiting")
        self.dismiss_all.setEnabled(bool(n))

    def open_over(self, area: QWidget) -> None:
        """Lay the list over `area` (the screens) and bring it to the front."""
        top_left = area.mapTo(self.parentWidget(), area.rect().topLeft())
        self.setGeometry(top_left.x(), top_left.y(), area.width(), area.height())
        self.show()
        self.raise_()


class MessageBanner(QFrame):
    """The fixed message slot: the newest waiting message, how many wait, Dismiss; a tap opens the list."""

    def __init__(self, touch: TouchSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.touch = touch
        self.queue = MessageQueue()
        self.symbol = QLabel()
        self.symbol_px = touch.px // 2 + 8
        self.symbol.setFixedSize(self.symbol_px, self.symbol_px)
        self.text = label("", wrap=True)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.count = button("", touch, wide=2.4)
        self.count.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.count.clicked.connect(self.open_list)
        self.dismiss = button("Dismiss", touch, wide=2.0)
        self.dismiss.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.dismiss.clicked.connect(self.dismiss_newest)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(self.symbol)
        row.addWidget(self.text, 1)
        row.addWidget(self.count)
        row.addWidget(self.dismiss)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(touch.px + 4)  # the buttons and the 2 px border: the same with or without a message
        self.text.installEventFilter(self)
        self.list: MessageList | None = None
        self.list_area: QWidget | None = None
        self.expiry = QTimer(self)
        self.expiry.setInterval(EXPIRE_CHECK_MS)
        self.expiry.timeout.connect(self._expire)
        self._redraw()

    @property
    def shown(self) -> UserMessage | None:
        """The message in the slot, or None when nothing waits."""
        newest = self.queue.newest
        return newest.message if newest else None

    def show_message(self, message: UserMessage) -> None:
        """Queue `message`; it takes the slot unless it repeats one already waiting."""
        self.queue.add(message)
        if message.level is Level.INFO and not self.expiry.isActive():
            self.expiry.start()
        self._redraw()

    def dismiss_entry(self, entry: QueuedMessage) -> None:
        """Take one message off the queue."""
        self.queue.dismiss(entry)
        self._redraw()

    def dismiss_newest(self) -> None:
        """The slot's Dismiss: the message in the slot goes, the next one takes its place."""
        if self.queue.newest is not None:
            self.dismiss_entry(self.queue.newest)

    def dismiss_all(self) -> None:
        """Empty the queue and close the list."""
        self.queue.dismiss_all()
        self._redraw()
        if self.list is not None:
            self.list.hide()

    def open_list(self) -> None:
        """Show every waiting message over the screens (`list_area`, else the whole window)."""
        if self.list is None:
            self.list = MessageList(self, self.touch, self.window())
        self.list.refill(self.queue.entries)
        area = self.list_area or self.window()
        self.list.open_over(area)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """A tap on the message text opens the list."""
        if watched is self.text and event.type() == QEvent.Type.MouseButtonRelease:
            self.open_list()
            return True
        return super().eventFilter(watched, event)

    def _expire(self) -> None:
        if self.queue.expire(datetime.now(timezone.utc)):
            self._redraw()
        if not any(e.message.level is Level.INFO for e in self.queue.entries):
            self.expiry.stop()

    def _redraw(self) -> None:
        newest = self.queue.newest
        waiting = len(self.queue.entries)
        if newest is None:
            self.text.setText("No messages")
            self.text.setObjectName("dim")
            self.setObjectName("banner")
            self.symbol.clear()
        else:
            self.text.setText(entry_text(newest))
            self.text.setObjectName("")
            self.setObjectName("bannerError" if newest.message.level is Level.ERROR else "banner")
            self.symbol.setPixmap(_symbol(newest.message.level, self.symbol_px))
        self.setStyleSheet("")  # re-polish for the new object names
        self.text.setStyleSheet("")
        self.count.setText(f"All {waiting}" if waiting > 1 else "Messages")
        self.dismiss.setEnabled(newest is not None)
        if self.list is not None and self.list.isVisible():
            self.list.refill(self.queue.entries)
