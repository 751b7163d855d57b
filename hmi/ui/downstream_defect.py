"""Report a defect found downstream on a part: its type, a note, and the reporter's PIN entered again (signed).

The station checks the role, the part and the signature and hands the report to its store thread; the
panel then reads the part back until its history shows the report, so what closes it is what was recorded.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QGridLayout, QHBoxLayout, QLineEdit, QPushButton, QWidget

from hmi.core.errors import StationError
from hmi.services.reports.browse import PartDetail, RecordBrowser
from hmi.store.audit import AuditAction
from hmi.ui import theme
from hmi.ui.context import ScreenContext
from hmi.ui.keypad import PinPad
from hmi.ui.touch import button
from hmi.ui.widgets import label, panel

MAX_NOTE = 200
TYPE_COLUMNS = 3
RECORDED_WAIT_S = 2.0  # the store thread commits within a fraction of a second


def reports_in(history) -> int:
    """How many defects found downstream a part's audit history holds."""
    return sum(1 for e in history if e.action == AuditAction.DOWNSTREAM_DEFECT.value)


def report_and_read_back(ctx: ScreenContext, browser: RecordBrowser, user, seq: int, defect_type: str, note: str,
                         pin: str, known: int) -> PartDetail:
    """Report part `seq` as `user` through the station (background thread), then its record once it holds it."""
    ctx.station.report_downstream_defect(seq, defect_type, user, pin, note)
    deadline = time.monotonic() + RECORDED_WAIT_S
    while True:
        detail = browser.detail(seq)
        if reports_in(detail.history) > known or time.monotonic() > deadline:
            return detail
        time.sleep(0.05)


def defect_types_of(ctx: ScreenContext, recipe: str) -> list[str]:
    """The defect types of `recipe` (those of the recipe in force when its file is gone); background thread."""
    try:
        return list(ctx.station.changes.load(recipe).defect_types)
    except StationError:
        return list(ctx.station.recipe.defect_types)


class DownstreamDefectPanel(QWidget):
    """Asks for the defect type, a note and the PIN, and reports the part; emits `closed(PartDetail | None)`.

    The panel checks only that a type and a PIN are there; the station checks the role, the part and the
    PIN (and audits the signature); a refusal is shown in plain words and the panel stays open.
    """

    closed = Signal(object)  # the part as recorded with its report, or None when cancelled

    def __init__(self, ctx: ScreenContext, browser: RecordBrowser, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.browser = ctx, browser
        self.touch = touch = ctx.touch
        self.seq: int | None = None
        self.known = 0
        self.type_group = QButtonGroup(self)
        self.type_group.setExclusive(True)
        self.type_buttons: dict[str, QPushButton] = {}

        left_frame, left = panel("Defect found downstream")
        self.part_text = label("", "figure", wrap=True)
        left.addWidget(self.part_text)
        left.addWidget(label("The part passed the station but was found defective later. The report goes to the "
                             "part's record and the audit trail, and the part counts as a missed defect when "
                             "thresholds are suggested.", "dim", wrap=True))
        left.addWidget(label("Defect type", "title"))
        self.type_grid = QGridLayout()
        self.type_grid.setSpacing(6)
        left.addLayout(self.type_grid)
        left.addWidget(label("Note: what was found, where, by whom (optional)", "dim", wrap=True))
        self.note = QLineEdit()
        self.note.setObjectName("note")
        self.note.setMaxLength(MAX_NOTE)
        self.note.setPlaceholderText("e.g. crack at the weld root, found at final test")
        self.note.setMinimumHeight(touch.px)
        self.note.textChanged.connect(lambda _t: self._clear_feedback())
        left.addWidget(self.note)
        left.addStretch(1)
        self.feedback = label("", wrap=True)
        left.addWidget(self.feedback)

        right_frame, right = panel("Sign the report")
        self.signer = label("Nobody is logged in: log in to sign.", "figure", wrap=True)
        right.addWidget(self.signer)
        self.pad = PinPad(touch, wide=1.4)
        self.pad.edited.connect(self._clear_feedback)
        self.keys = self.pad.keys
        right.addWidget(self.pad)
        actions = QHBoxLayout()
        self.cancel = button("Cancel", touch, wide=1.6)
        self.cancel.clicked.connect(self._cancel)
        self.sign = button("Sign and report", touch, wide=2.6, name="primary")
        self.sign.clicked.connect(self._submit)
        actions.addWidget(self.cancel, 1)
        actions.addWidget(self.sign, 2)
        right.addStretch(1)
        right.addLayout(actions)

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(left_frame, 3)
        row.addWidget(right_frame, 2)

    def open_for(self, detail: PartDetail) -> None:
        """Ask about the part of `detail`: its recipe's defect types arrive from the background thread."""
        record = detail.record
        score = "no score" if record.score is None else f"score {record.score:.3f}"
        user = self.ctx.session.user
        self.set_part(record.seq, f"recipe {record.recipe}, {score}, final verdict {record.verdict.label}", [],
                      user.name if user else "", user.role.value if user else "")
        self.known = reports_in(detail.history)
        ctx, seq = self.ctx, record.seq
        ctx.tasks.submit(lambda: defect_types_of(ctx, record.recipe),
                         lambda types: self.set_types(types) if self.seq == seq else None,
                         lambda exc: self.show_failure(f"The recipe's defect types could not be read ({exc})",
                                                       "go back and open the part again"))

    def set_part(self, seq: int, summary: str, defect_types: list[str], signer: str, role: str = "") -> None:
        """Ask about part `seq` (described by `summary`), offering `defect_types`; forget earlier input."""
        self.reset()
        self.seq = seq
        self.part_text.setText(f"Part {seq} — {summary}")
        self.signer.setText(f"Signed by: {signer}{f' ({role})' if role else ''}" if signer else
                            "Nobody is logged in: log in to sign.")
        self.set_types(defect_types)

    def set_types(self, defect_types: list[str]) -> None:
        """Offer `defect_types` as touch buttons, three to a row."""
        for b in self.type_buttons.values():
            self.type_group.removeButton(b)
            b.deleteLater()
        self.type_buttons = {}
        for i, name in enumerate(defect_types):
            b = button(name, self.touch, checkable=True)
            b.clicked.connect(lambda _=False: self._clear_feedback())
            self.type_group.addButton(b)
            self.type_grid.addWidget(b, i // TYPE_COLUMNS, i % TYPE_COLUMNS)
            self.type_buttons[name] = b

    @property
    def defect_type(self) -> str | None:
        """The chosen defect type, or None."""
        checked = self.type_group.checkedButton()
        return next((name for name, b in self.type_buttons.items() if b is checked), None)

    @property
    def pin(self) -> str:
        """The PIN typed so far (held by the keypad)."""
        return self.pad.pin

    def _submit(self) -> None:
        if self.defect_type is None:
            self.show_failure("Choose the defect type that was found", "then tap Sign and report", keep_pin=True)
            return
        if not self.pin:
            self.show_failure("Type your PIN on the keypad", "then tap Sign and report")
            return
        if self.ctx.session.user is None or self.seq is None:
            self.show_failure("Nobody is logged in", "log in as a quality manager, then report again")
            return
        self.sign.setEnabled(False)
        self.feedback.setStyleSheet("")
        self.feedback.setText("Checking the signature…")
        ctx, browser, user, seq, known = self.ctx, self.browser, self.ctx.session.user, self.seq, self.known
        defect_type, note, pin = self.defect_type, self.note.text().strip(), self.pin
        ctx.tasks.submit(lambda: report_and_read_back(ctx, browser, user, seq, defect_type, note, pin, known),
                         lambda detail: self._recorded(detail, defect_type), self._refused)

    def _recorded(self, detail: PartDetail, defect_type: str) -> None:
        seq = detail.record.seq
        self.reset()
        self.closed.emit(detail)
        if reports_in(detail.history) > self.known:
            self.ctx.channel.info(f"Part {seq} is recorded as a defect found downstream ({defect_type})",
                                  "it counts as a missed defect when thresholds are suggested")
        else:
            self.ctx.channel.info(f"The report on part {seq} is on its way to the records",
                                  "open the part again in a moment to see it in its history")

    def _refused(self, exc: BaseException) -> None:
        if isinstance(exc, StationError):
            self.show_failure(exc.what, exc.todo)
        else:
            self.show_failure("The report could not be made", "try again; if it fails again, call service")
            self.ctx.channel.error(exc)

    def _cancel(self) -> None:
        self.reset()
        self.closed.emit(None)

    def _clear_feedback(self) -> None:
        if self.sign.isEnabled():
            self.feedback.setText("")
            self.feedback.setStyleSheet("")

    def show_failure(self, what: str, todo: str = "", *, keep_pin: bool = False) -> None:
        """Say in plain words why the report was refused; the PIN is cleared, type and note kept."""
        self.sign.setEnabled(True)
        if not keep_pin:
            self.pad.pin = ""
        self.feedback.setStyleSheet(f"color: {theme.REJECT_RED}; font-weight: 600;")
        self.feedback.setText(f"✖ {what}. {todo[:1].upper() + todo[1:]}." if todo else f"✖ {what}.")

    def reset(self) -> None:
        """Forget the type, the note, the PIN and any message."""
        self.pad.pin = ""
        self.note.clear()
        checked = self.type_group.checkedButton()
        if checked is not None:
            self.type_group.setExclusive(False)
            checked.setChecked(False)
            self.type_group.setExclusive(True)
        self.sign.setEnabled(True)
        self.feedback.setText("")
        self.feedback.setStyleSheet("")


__all__ = ["DownstreamDefectPanel"]
