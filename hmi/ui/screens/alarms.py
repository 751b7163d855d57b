"""Alarms: every listed alarm with its priority; acknowledge, or shelve with a reason and an expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from hmi.core.alarms import Alarm
from hmi.core.part import utc_now
from hmi.ui.health import visible
from hmi.ui.symbols import priority_pixmap, priority_words
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import ElidedButton, label, panel

SHELVE_REASONS = (
    "Known fault: maintenance has been called",
    "Equipment under maintenance",
    "Nuisance alarm: reported to the technician",
)
SHELVE_DURATIONS = (("15 min", timedelta(minutes=15)), ("1 hour", timedelta(hours=1)),
                    ("8 hours (shift)", timedelta(hours=8)))


def _local(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%H:%M:%S") if moment else "—"


def alarm_state(alarm: Alarm, now: datetime | None = None) -> str:
    """The alarm's state in words: active or cleared, acknowledged by whom, shelved until when."""
    bits = ["ACTIVE" if alarm.active else "CLEARED"]
    bits.append(f"acknowledged by {alarm.acknowledged_by} at {_local(alarm.acknowledged_at)}"
                if alarm.acknowledged_by else "NOT ACKNOWLEDGED")
    if not visible(alarm, now):
        bits.append(f"SHELVED until {_local(alarm.shelved_until)} ({alarm.shelve_reason})")
    return " · ".join(bits)


def alarm_row_text(alarm: Alarm, now: datetime | None = None) -> str:
    """Two lines for the alarm list: priority, code, time and state; then the message."""
    return f"{priority_words(alarm.priority)} · {alarm.code} · raised {_local(alarm.raised_at)} · " \
           f"{alarm_state(alarm, now)}\n{alarm.message}"


class AlarmsScreen(QWidget):
    """Emits `acknowledge_requested(code)` and `shelve_requested(code, until, reason)`; the window acts."""

    acknowledge_requested = Signal(str)
    shelve_requested = Signal(str, object, str)

    def __init__(self, touch: TouchSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.touch = touch
        self.alarms: list[Alarm] = []
        self.selected: str | None = None
        self.rows: dict[str, ElidedButton] = {}
        self._key: tuple = ()
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.list_box = QWidget()
        self.list_col = QVBoxLayout(self.list_box)
        self.list_col.setContentsMargins(0, 0, 0, 0)
        self.list_col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.list_box)
        self.title = label("Alarms: none", "title")
        self.none_note = label("No alarm is listed. New alarms appear here and in the zone at the top.", "dim",
                               wrap=True)
        list_panel, list_layout = panel()
        list_layout.addWidget(self.title)
        list_layout.addWidget(self.none_note)
        list_layout.addWidget(scroll, 1)

        self.detail = label("Choose an alarm in the list.", wrap=True)
        self.ack = button("Acknowledge", touch, name="primary", tall=1.4)
        self.ack.clicked.connect(self._acknowledge)
        self.shelve = button("Shelve…", touch, tall=1.4, checkable=True)
        self.shelve.toggled.connect(self._shelve_panel)

        self.reason_group = QButtonGroup(self)
        self.duration_group = QButtonGroup(self)
        self.shelve_box, shelve_col = panel("Shelve: hide it from the alarm zone for a while")
        shelve_col.addWidget(label("Why", "dim"))
        self.reason_buttons = []
        for reason in SHELVE_REASONS:
            b = button(reason, touch, checkable=True)
            self.reason_group.addButton(b)
            self.reason_buttons.append(b)
            shelve_col.addWidget(b)
        shelve_col.addWidget(label("For how long", "dim"))
        durations = QHBoxLayout()
        self.duration_buttons = []
        for words, _ in SHELVE_DURATIONS:
            b = button(words, touch, checkable=True)
            self.duration_group.addButton(b)
            self.duration_buttons.append(b)
            durations.addWidget(b)
        shelve_col.addLayout(durations)
        self.shelve_now = button("Shelve now", touch, name="primary")
        self.shelve_now.clicked.connect(self._shelve)
        shelve_col.addWidget(self.shelve_now)
        self.shelve_box.hide()

        side_panel, side = panel("Selected alarm")
        side.addWidget(self.detail)
        actions = QHBoxLayout()
        actions.addWidget(self.ack)
        actions.addWidget(self.shelve)
        side.addLayout(actions)
        side.addWidget(self.shelve_box)
        side.addStretch(1)
        side.addWidget(label("Operators acknowledge alarms; shelving needs a technician. Every action is written to "
                             "the audit trail with your name.", "dim", wrap=True))

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(list_panel, 3)
        row.addWidget(side_panel, 2)
        self._update_actions()

    def show_alarms(self, alarms: list[Alarm]) -> None:
        """Refresh the list from the alarm board's snapshot (most urgent first)."""
        now = utc_now()
        texts = {a.code: alarm_row_text(a, now) for a in alarms}
        key = tuple((a.code, texts[a.code]) for a in alarms)
        if key == self._key:
            return
        self._key = key
        self.alarms = alarms
        if [a.code for a in alarms] != list(self.rows):
            self._rebuild(alarms)
        for a in alarms:
            self.rows[a.code].set_full_text(texts[a.code])
        listed = len(alarms)
        active = sum(1 for a in alarms if a.active)
        self.title.setText(f"Alarms: {listed} listed, {active} active" if listed else "Alarms: none")
        self.none_note.setVisible(not alarms)
        if self.selected not in texts:
            self.selected = alarms[0].code if alarms else None
        self._check_selected()
        self._update_actions()

    def _rebuild(self, alarms: list[Alarm]) -> None:
        for b in self.rows.values():
            self.group.removeButton(b)
            b.deleteLater()
        self.rows = {}
        icon_px = self.touch.px // 2 + 8
        for i, a in enumerate(alarms):
            b = ElidedButton(self.touch, tall=1.5, checkable=True)
            b.setIcon(QIcon(priority_pixmap(a.priority, icon_px)))
            b.setIconSize(QSize(icon_px, icon_px))
            b.clicked.connect(lambda _=False, code=a.code: self.select(code))
            self.group.addButton(b)
            self.list_col.insertWidget(i, b)
            self.rows[a.code] = b

    def _check_selected(self) -> None:
        for code, b in self.rows.items():
            if b.isChecked() != (code == self.selected):
                b.setChecked(code == self.selected)

    def current(self) -> Alarm | None:
        """The selected alarm."""
        return next((a for a in self.alarms if a.code == self.selected), None)

    def select(self, code: str) -> None:
        """Select the alarm `code`."""
        self.selected = code
        self._check_selected()
        self._update_actions()

    def _update_actions(self) -> None:
        alarm = self.current()
        if alarm is None:
            self.detail.setText("Choose an alarm in the list.")
        else:
            self.detail.setText(f"{priority_words(alarm.priority)} — {alarm.code}\n{alarm.message}\n\n"
                                f"{alarm_state(alarm)}")
        self.ack.setEnabled(alarm is not None and not alarm.acknowledged_by)
        self.shelve.setEnabled(alarm is not None)
        if alarm is None and self.shelve.isChecked():
            self.shelve.setChecked(False)

    def _shelve_panel(self, shown: bool) -> None:
        self.shelve_box.setVisible(shown)

    def _acknowledge(self) -> None:
        if self.selected is not None:
            self.acknowledge_requested.emit(self.selected)

    def shelve_choice(self) -> tuple[str, timedelta] | None:
        """The chosen reason and duration, when both are chosen."""
        reason_b, duration_b = self.reason_group.checkedButton(), self.duration_group.checkedButton()
        if reason_b is None or duration_b is None:
            return None
        reason = SHELVE_REASONS[self.reason_buttons.index(reason_b)]
        return reason, SHELVE_DURATIONS[self.duration_buttons.index(duration_b)][1]

    def _shelve(self) -> None:
        if self.selected is None:
            return
        choice = self.shelve_choice()
        if choice is None:
            self.shelve_requested.emit(self.selected, None, "")
            return
        reason, duration = choice
        self.shelve_requested.emit(self.selected, utc_now() + duration, reason)

    def shelved_done(self) -> None:
        """Close the shelve panel after the station took it."""
        self.shelve.setChecked(False)

