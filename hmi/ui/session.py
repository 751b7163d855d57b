"""Who is logged in at the touchscreen, what their role allows, and the lock after a while without a touch."""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, QTimer, Signal

from hmi.core.errors import PermissionDenied
from hmi.store.users import Permission, User, require
from hmi.ui.messages import MessageChannel
from hmi.ui.tasks import BackgroundTasks

log = logging.getLogger(__name__)


class OperatorSession(QObject):
    """The logged-in user (None = locked: screens show, actions ask for a login); emits `changed(user)`."""

    changed = Signal(object)

    def __init__(self, users, tasks: BackgroundTasks, channel: MessageChannel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.users = users
        self.tasks = tasks
        self.channel = channel
        self.user: User | None = None

    @property
    def name(self) -> str:
        """The user's name, or '' when locked."""
        return self.user.name if self.user else ""

    def can(self, permission: Permission) -> bool:
        """True when the logged-in user may do `permission`."""
        return self.user is not None and self.user.can(permission)

    def denial(self, permission: Permission) -> PermissionDenied | None:
        """Why the current user may not do `permission`, in plain words; None when they may."""
        try:
            require(self.user, permission)
        except PermissionDenied as exc:
            return exc
        return None

    def log_in(self, user: User) -> None:
        """Make `user` (already authenticated and audited by the user directory) the one acting."""
        if self.user is not None and self.user.name != user.name:
            self.log_out("another user logged in")
        self.user = user
        log.info("%s (%s) logged in at the touchscreen", user.name, user.role.value)
        self.changed.emit(user)

    def log_out(self, why: str = "") -> None:
        """Lock the screen: the user is logged out (audited in the background)."""
        user, self.user = self.user, None
        if user is None:
            return
        if self.users is not None:
            self.tasks.submit(lambda: self.users.logout(user))
        if why:
            self.channel.info(f"{user.name} was logged out: {why}", "log in again to act")
        self.changed.emit(None)


class IdleLock(QObject):
    """Logs the user out after `seconds` without a touch, click or key anywhere in the application."""

    _INPUT = {QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin, QEvent.Type.KeyPress, QEvent.Type.Wheel}

    def __init__(self, session: OperatorSession, seconds: float, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(max(1, round(seconds * 1000)))
        self.timer.timeout.connect(self._lock)
        session.changed.connect(self._on_user)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Any touch restarts the countdown while someone is logged in; the event goes on unchanged."""
        if event.type() in self._INPUT and self.session.user is not None:
            self.timer.start()
        return False

    def _on_user(self, user) -> None:
        if user is None:
            self.timer.stop()
        else:
            self.timer.start()

    def _lock(self) -> None:
        seconds = self.timer.interval() / 1000
        self.session.log_out(f"no touch for {seconds:g} s (auto-lock)")
