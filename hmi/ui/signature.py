"""Electronic signature: who signs, why (a reason), and the PIN entered again on the on-screen keypad."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from hmi.ui import theme
from hmi.ui.keypad import PinPad
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import label, panel

MAX_REASON = 200


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
        self.signer = label("Nobody is logged in: log in to sign.", "figure", wrap=True)
        self.meaning = label("", "dim", wrap=True)
        self.meaning.hide()
        col.addWidget(self.signer)
        col.addWidget(self.meaning)

        col.addWidget(label("Reason for the change (goes to the audit trail):", "dim", wrap=True))
        self.reason = QLineEdit()
        self.reason.setObjectName("reason")
        self.reason.setMaxLength(MAX_REASON)
        self.reason.setPlaceholderText("Why do you change it?")
        self.reason.setMinimumHeight(touch.px)
        self.reason.textChanged.connect(lambda _t: self._clear_feedback())
        col.addWidget(self.reason)
        self.reason_buttons: list[object] = []
        if reasons:
            quick = QHBoxLayout()
            for text in reasons:
                b = button(text, touch)
                b.setMinimumWidth(max(b.minimumWidth(), b.fontMetrics().horizontalAdvance(text) + 32))
                b.clicked.connect(lambda _=False, t=text: self.reason.setText(t))
                quick.addWidget(b)
                self.reason_buttons.append(b)
            col.addLayout(quick)

        self.pad = PinPad(touch, wide=1.4)
        self.pad.edited.connect(self._clear_feedback)
        self.keys = self.pad.keys
        col.addWidget(self.pad)

        actions = QHBoxLayout()
        self.cancel = button("Cancel", touch, wide=1.6)
        self.cancel.clicked.connect(self._cancel)
        self.sign = button("Sign and apply", touch, wide=2.4, name="primary")
        self.sign.clicked.connect(self._submit)
        actions.addWidget(self.cancel, 1)
        actions.addWidget(self.sign, 2)
        col.addLayout(actions)
        self.feedback = label("", wrap=True)
        col.addWidget(self.feedback)

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

    # --- input -------------------------------------------------------------------------------
    @property
    def pin(self) -> str:
        """The PIN typed so far (held by the keypad)."""
        return self.pad.pin

    def _clear_feedback(self) -> None:
        if self.sign.isEnabled():
            self.feedback.setText("")
            self.feedback.setStyleSheet("")

    def _submit(self) -> None:
        reason = self.reason.text().strip()
        if not reason:
            self.show_failure("Type a reason for the change", "it goes to the audit trail with your name",
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
        self.sign.setEnabled(True)
        self.feedback.setText("")
        self.feedback.setStyleSheet("")


__all__ = ["SignaturePanel"]
