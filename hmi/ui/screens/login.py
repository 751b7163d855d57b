"""Login: tap your name, type your PIN on the on-screen keypad, Log in."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QGridLayout, QHBoxLayout, QScrollArea, QWidget

from hmi.store.users import User
from hmi.ui import theme
from hmi.ui.keypad import PinPad
from hmi.ui.touch import TouchSize, button
from hmi.ui.widgets import label, panel


class LoginScreen(QWidget):
    """Emits `login_requested(name, pin)`; the window authenticates in the background and reports back."""

    login_requested = Signal(str, str)

    def __init__(self, touch: TouchSize, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.touch = touch
        self.name = ""
        self.user_group = QButtonGroup(self)
        self.user_group.setExclusive(True)
        self.user_buttons: dict[str, object] = {}
        self.users_box = QWidget()
        self.users_grid = QGridLayout(self.users_box)
        self.users_grid.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.users_box)
        self.users_note = label("Loading the user list…", "dim", wrap=True)
        users_panel, users_col = panel("1. Tap your name")
        users_col.addWidget(self.users_note)
        users_col.addWidget(scroll, 1)

        self.pad = PinPad(touch, wide=1.6, tall=1.7, spacing=8)
        self.pad.edited.connect(lambda: self.feedback.setText(""))
        self.keys = self.pad.keys
        self.feedback = label("", wrap=True)
        self.enter = button("Log in", touch, tall=1.7, name="primary")
        self.enter.clicked.connect(self._submit)
        pin_panel, pin_col = panel("2. Type your PIN")
        pin_col.addWidget(self.pad)
        pin_col.addWidget(self.enter)
        pin_col.addWidget(self.feedback)
        pin_col.addStretch(1)

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(users_panel, 3)
        row.addWidget(pin_panel, 2)

    # --- users -------------------------------------------------------------------------------
    def show_users(self, users: list[User], needs_first_admin: bool) -> None:
        """Fill the name buttons (active users only)."""
        for b in list(self.user_buttons.values()):
            self.user_group.removeButton(b)
            b.deleteLater()
        self.user_buttons = {}
        active = [u for u in users if u.active]
        if needs_first_admin:
            self.users_note.setText("This station has no active admin, so nobody can log in. The integrator creates "
                                    "the first admin when commissioning: hmi users add NAME --role admin; a station "
                                    "that had users gets one back at its console: hmi users recover-admin NAME "
                                    "--reason TEXT")
        elif not active:
            self.users_note.setText("No active users. Ask an admin to add or re-enable users.")
        else:
            self.users_note.setText("")
        self.users_note.setVisible(bool(self.users_note.text()))
        columns = 3
        for i, user in enumerate(active):
            b = button(f"{user.name}\n{user.role.value}", self.touch, checkable=True, tall=1.4)
            b.clicked.connect(lambda _=False, n=user.name: self.choose(n))
            self.user_group.addButton(b)
            self.users_grid.addWidget(b, i // columns, i % columns)
            self.user_buttons[user.name] = b
        self.users_grid.setRowStretch(len(active) // columns + 1, 1)
        if self.name in self.user_buttons:
            self.user_buttons[self.name].setChecked(True)

    def show_users_failed(self, text: str) -> None:
        """Say why the user list could not be read."""
        self.users_note.setText(text)
        self.users_note.show()

    def choose(self, name: str) -> None:
        """Pick the user who is logging in; a PIN typed for someone else is forgotten."""
        if name != self.name:
            self.pad.pin = ""
        self.name = name
        button_ = self.user_buttons.get(name)
        if button_ is not None and not button_.isChecked():
            button_.setChecked(True)
        self.feedback.setText("")

    # --- PIN ---------------------------------------------------------------------------------
    @property
    def pin(self) -> str:
        """The PIN typed so far (held by the keypad)."""
        return self.pad.pin

    def _submit(self) -> None:
        if not self.name:
            self.show_failure("Tap your name first", "then type your PIN and tap Log in")
            return
        if not self.pin:
            self.show_failure("Type your PIN on the keypad", "then tap Log in")
            return
        self.enter.setEnabled(False)
        self.feedback.setText("Checking…")
        self.login_requested.emit(self.name, self.pin)

    def show_failure(self, what: str, todo: str) -> None:
        """Say in plain words why the login did not work; the PIN is cleared."""
        self.enter.setEnabled(True)
        self.pad.pin = ""
        self.feedback.setStyleSheet(f"color: {theme.REJECT_RED}; font-weight: 600;")
        self.feedback.setText(f"✖ {what}. {todo[:1].upper() + todo[1:]}." if todo else f"✖ {what}.")

    def reset(self) -> None:
        """Forget the PIN and the choice (after a login, or when the screen is left)."""
        self.enter.setEnabled(True)
        self.pad.pin = ""
        self.feedback.setText("")
        self.feedback.setStyleSheet("")
