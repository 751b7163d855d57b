"""The fixed zone at the top of every screen: station state, recipe, health, backend, alarms, who is logged in."""

from __future__ import annotations

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from hmi.core.alarm_catalogue import Tile as AlarmTile
from hmi.core.alarms import Alarm, Priority
from hmi.core.part import backend_device
from hmi.ui import theme
from hmi.ui.health import Health, Level, visible
from hmi.ui.symbols import priority_pixmap, priority_words
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import ElidedButton

_LEVEL_STYLE = {
    Level.OK: f"background: {theme.PANEL}; color: {theme.TEXT};",
    Level.WARN: f"background: {theme.ALARM_MEDIUM}; color: {theme.ON_AMBER};",
    Level.FAULT: f"background: {theme.ALARM_HIGH}; color: {theme.ON_COLOUR};",
}
_LEVEL_SYMBOL = {Level.WARN: Priority.MEDIUM, Level.FAULT: Priority.HIGH}
_ZONE_STYLE = {Priority.HIGH: "abnormal", Priority.MEDIUM: "warning", Priority.LOW: "low"}


class Tile(QFrame):
    """A name above a value; grey when normal, amber or red with a symbol when not."""

    def __init__(self, name: str, touch: TouchSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tile")
        self.setFrameShape(QFrame.Shape.Box)
        self._symbol_px = max(16, touch.px // 2)
        self.name = QLabel(name)
        self.name.setObjectName("dim")
        self.value = QLabel("—")
        self.value.setObjectName("figure")
        self.symbol = QLabel()
        self.symbol.setFixedSize(self._symbol_px, self._symbol_px)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.symbol)
        row.addWidget(self.value, 1)
        col = QVBoxLayout(self)
        col.setContentsMargins(8, 4, 8, 4)
        col.setSpacing(0)
        col.addWidget(self.name)
        col.addLayout(row)
        self.level: Level | None = None
        self.set(Level.OK, "—")

    def set(self, level: Level, text: str) -> None:
        """Show a value at a level (restyles only on change); the tile widens to fit, never narrows."""
        if self.value.text() != text:
            self.value.setText(text)
            self.value.ensurePolished()
            needed = self.value.fontMetrics().horizontalAdvance(text) + self._symbol_px + 28
            if needed > self.minimumWidth():
                self.setMinimumWidth(needed)
        if level is not self.level:
            self.level = level
            self.setStyleSheet(f"QFrame#tile {{ {_LEVEL_STYLE[level]} border: 1px solid {theme.BORDER}; }}"
                               f"QLabel {{ {_LEVEL_STYLE[level]} }}")
            if level in _LEVEL_SYMBOL:
                self.symbol.setPixmap(priority_pixmap(_LEVEL_SYMBOL[level], self._symbol_px))
                self.symbol.show()
            else:
                self.symbol.clear()
                self.symbol.hide()


def alarm_summary(alarms: list[Alarm]) -> tuple[list[Alarm], str]:
    """Alarms the zone shows (active or unacknowledged, not shelved), and its text."""
    shown = [a for a in alarms if visible(a) and (a.active or not a.acknowledged_by)]
    if not shown:
        return shown, "No active alarms"
    unack = sum(1 for a in shown if not a.acknowledged_by)
    top = shown[0]
    head = f"{len(shown)} ALARM{'S' if len(shown) != 1 else ''}" + (f" ({unack} not acknowledged)" if unack else "")
    state = "" if top.active else " (cleared)"
    return shown, f"{head}\n{priority_words(top.priority)}: {top.message}{state}"


class StatusZone(QFrame):
    """Fixed top zone; the alarm summary opens the alarm screen, the user button logs in or out."""

    alarms_requested = Signal()
    user_requested = Signal()

    def __init__(self, touch: TouchSize, station_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusZone")
        self.touch = touch
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(max(int(touch.px * 1.6), touch.primary_px + 12))  # Log in is a primary action
        self.state = Tile(station_name, touch)
        self.recipe = Tile("Recipe", touch)
        self.backend = Tile("Inference", touch)
        self.health = {t.value: Tile(t.value, touch) for t in AlarmTile}  # the catalogue's status tiles
        self.alarm_button = ElidedButton(touch, tall=1.3)
        self.alarm_button.set_full_text("No active alarms")
        self.alarm_button.setObjectName("alarmZone")
        self.alarm_button.setIconSize(QSize(touch.px // 2 + 8, touch.px // 2 + 8))
        self.alarm_button.setStyleSheet("text-align: left;")
        self.alarm_button.clicked.connect(self.alarms_requested)
        self.user_button = button("Log in", touch, tall=1.3, wide=2.4, primary=True)
        self.user_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.user_button.clicked.connect(self.user_requested)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 6, 6, 6)
        row.setSpacing(6)
        row.addWidget(self.state, 2)
        row.addWidget(self.recipe, 2)
        for tile in self.health.values():
            row.addWidget(tile, 1)
        row.addWidget(self.backend, 1)
        row.addWidget(self.alarm_button, 6)
        row.addWidget(self.user_button)
        self._alarm_key: tuple | None = None

    def show_status(self, state: tuple[Level, str], recipe: str, backend: str, health: list[Health],
                    alarms: list[Alarm]) -> None:
        """Refresh every tile from one status reading."""
        self.state.set(*state)
        self.recipe.set(Level.OK, recipe)
        # The device alone (CPU, CUDA, TENSORRT): the whole backend, such as cpu-clusters or tensorrt-fp16, is
        # on the part screen and in every record; at 1280 px it crowded out the alarm zone.
        self.backend.set(Level.OK if backend != "none" else Level.FAULT, backend_device(backend).upper())
        for h in health:
            self.health[h.name].set(h.level, h.text)
        shown, text = alarm_summary(alarms)
        key = (text, shown[0].priority if shown else None)
        if key != self._alarm_key:
            self._alarm_key = key
            self.alarm_button.set_full_text(text)
            if shown:
                top = shown[0]
                self.alarm_button.setIcon(QIcon(priority_pixmap(top.priority, self.touch.px // 2 + 8)))
                self.alarm_button.setObjectName(_ZONE_STYLE[top.priority])
            else:
                self.alarm_button.setIcon(QIcon())
                self.alarm_button.setObjectName("alarmZone")
            self.alarm_button.setStyleSheet("text-align: left;")  # re-polish after the name changed

    def show_user(self, name: str, role: str) -> None:
        """The user button: who is logged in (tap to log out), or 'Log in'."""
        self.user_button.setText(f"{name} · {role}\nLog out" if name else "LOCKED\nLog in")
