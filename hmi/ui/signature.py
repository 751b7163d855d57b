"""Electronic signature: who signs, why (a reason tapped from presets, details typed), and the PIN on the keypad."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLineEdit, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from hmi.config.schema import SIGN_REASONS
from hmi.ui import theme
from hmi.ui.keypad import PinPad
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import label, panel

MAX_REASON = 200
MAX_PRESETS = 6
PRESET_COLUMNS = 1  # one across: a reason reads whole beside the PIN keypad on a 1280-px panel


class SignaturePanel(QWidget):
    """Asks for a reason and the signer's PIN; emits `signed(reason, pin)` or `cancelled()`.

    The panel checks only that both are there; the station checks the PIN and the role (and audits
    the try). Call `show_failure(what, todo)` when the station refuses, `reset()` after success or
    when the panel is put away; `set_signer(name, role)` shows who signs (the logged-in user).
    """

    signed = Signal(str, str)  # reason, pin
    cancelled = Signal()

    def __init__(self, touch: TouchSize, title: str, parent: QWidget | None = None, *,
                 reasons: Sequence[str] = ()) -> None:
        super().__init__(parent)
        self.touch = touch
        frame, col = panel(title)
        self.title = col.itemAt(0).widget()
        left, right, columns = QVBoxLayout(), QVBoxLayout(), QHBoxLayout()  # why and who | PIN and sign
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
        col.addLayout(columns)
        self.signer = label("Nobody is logged in: log in to sign.", "figure", wrap=True)
        self.meaning = label("", "dim", wrap=True)
        self.meaning.hide()
        left.addWidget(self.signer)
        left.addWidget(self.meaning)

        self.preset_grid = QGridLayout()
        self.preset_grid.setSpacing(4)
        left.addLayout(self.preset_grid)
        self._slots: list[QPushButton] = []
        for i in range(MAX_PRESETS):
            b = button("", touch, checkable=True)
            b.toggled.connect(lambda on, i=i: self._picked(i, on))
            self.preset_grid.addWidget(b, i // PRESET_COLUMNS, i % PRESET_COLUMNS)
            self._slots.append(b)
        self.reason_buttons: list[QPushButton] = []
        self._own = tuple(reasons)
        self.set_presets(SIGN_REASONS)
        self.reason = QLineEdit()
        self.reason.setObjectName("reason")
        self.reason.setMaxLength(MAX_REASON)
        self.reason.setAccessibleName("Reason details")
        self.reason.setPlaceholderText("Reason for the audit trail: tap one above, add details here")
        self.reason.setMinimumHeight(touch.px)
        self.reason.textChanged.connect(lambda _t: self._clear_feedback())
        left.addWidget(self.reason)

        self.pad = PinPad(touch, wide=1.4)
        self.pad.edited.connect(self._clear_feedback)
        self.keys = self.pad.keys
        self.pad.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        right.addWidget(self.pad)
        right.addStretch(1)

        # One above the other, each the column's width: the words read whole on a narrow panel.
        self.sign = button("Sign and apply", touch, wide=2.4, name="primary")
        self.sign.clicked.connect(self._submit)
        self.cancel = button("Cancel", touch, wide=1.6)
        self.cancel.clicked.connect(self._cancel)
        right.addWidget(self.sign)
        right.addWidget(self.cancel)
        self.feedback = label("", wrap=True)
        left.addWidget(self.feedback)
        left.addStretch(1)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(frame)

    # --- what is signed, by whom -------------------------------------------------------------
    def set_signer(self, name: str, role: str = "") -> None:
        """Show who signs (the logged-in user); an empty name says a login is needed."""
        if name:
            self.signer.setText(f"Signed by: {name}{f' ({role})' if role else ''}")
        else:
            self.signer.setText("Nobody is logged in: log in to sign.")

    def set_meaning(self, text: str) -> None:
        """Say what the signature puts in force (e.g. the proposed thresholds); empty hides it."""
        self.meaning.setText(text)
        self.meaning.setVisible(bool(text))

    def set_presets(self, presets: Sequence[str]) -> None:
        """Offer the panel's own reasons, then `presets` (station.toml [ui] sign_reasons), up to six, to tap."""
        offered = list(dict.fromkeys([*self._own, *presets]))[:MAX_PRESETS]
        for i, b in enumerate(self._slots):
            b.setChecked(False)
            b.setText(offered[i] if i < len(offered) else "")
            b.setVisible(i < len(offered))
        self.reason_buttons = self._slots[:len(offered)]

    def _picked(self, index: int, on: bool) -> None:
        if on:  # one reason at a time; a second tap on it takes it back
            for i, b in enumerate(self._slots):
                if i != index:
                    b.setChecked(False)
        self._clear_feedback()

    # --- input -------------------------------------------------------------------------------
    @property
    def preset(self) -> str:
        """The reason tapped, or "" when none is."""
        return next((b.text() for b in self.reason_buttons if b.isChecked()), "")

    @property
    def reason_text(self) -> str:
        """What goes to the audit trail: the reason tapped, then the typed details (either may be alone)."""
        typed = self.reason.text().strip()
        return f"{self.preset}: {typed}" if self.preset and typed else self.preset or typed

    @property
    def pin(self) -> str:
        """The PIN typed so far (held by the keypad)."""
        return self.pad.pin

    def _clear_feedback(self) -> None:
        if self.sign.isEnabled():
            self.feedback.setText("")
            self.feedback.setStyleSheet("")

    def _submit(self) -> None:
        reason = self.reason_text[:MAX_REASON]
        if not reason:
            self.show_failure("Tap a reason for the change or type one", "it goes to the audit trail with your name",
                              keep_pin=True)
            return
        if not self.pin:
            self.show_failure("Type your PIN on the keypad", "then tap Sign and apply")
            return
        self.sign.setEnabled(False)
        self.feedback.setStyleSheet("")
        self.feedback.setText("Checking the signature…")
        self.signed.emit(reason, self.pin)

    def _cancel(self) -> None:
        self.reset()
        self.cancelled.emit()

    # --- outcome -----------------------------------------------------------------------------
    def show_failure(self, what: str, todo: str = "", *, keep_pin: bool = False) -> None:
        """Say in plain words why the signature was refused; the PIN is cleared, the reason kept."""
        self.sign.setEnabled(True)
        if not keep_pin:
            self.pad.pin = ""
        self.feedback.setStyleSheet(f"color: {theme.REJECT_RED}; font-weight: 600;")
        self.feedback.setText(f"✖ {what}. {todo[:1].upper() + todo[1:]}." if todo else f"✖ {what}.")

    def reset(self) -> None:
        """Forget the reason, the PIN and any message (after a signed change, or when put away)."""
        self.pad.pin = ""
        self.reason.clear()
        for b in self.reason_buttons:
            b.setChecked(False)
        self.sign.setEnabled(True)
        self.feedback.setText("")
        self.feedback.setStyleSheet("")


def offer_reasons(root: QWidget, presets: Sequence[str]) -> None:
    """Offer `presets` (station.toml [ui] sign_reasons) on every signature panel under `root`."""
    for panel_ in root.findChildren(SignaturePanel):
        panel_.set_presets(presets)


__all__ = ["SignaturePanel", "offer_reasons"]
