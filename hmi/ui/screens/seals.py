"""Settings changed outside the station: what changed, key by key, and the signature of a technician or admin
that accepts it. Shown at start while any change waits; until then every part is rejected as NOT INSPECTED.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from hmi.core.errors import StationError
from hmi.ui.context import ScreenContext
from hmi.ui.signature import SignaturePanel
from hmi.ui.widgets import label, panel

REASONS = ("Change checked",)
MAX_LINES = 12  # changed keys listed per setting; the audit trail keeps them all


class SealsScreen(QWidget):
    """Lists the settings changed outside the station; a technician's or admin's signature accepts them all.

    The seals come from the station (`station.changes.seals`, hmi.changes.seals.SettingSeals); checking and
    accepting run on the background thread. `pending` holds what waits (empty: nothing).
    """

    def __init__(self, ctx: ScreenContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.pending: list = []
        self.accepted: Callable[[], None] = lambda: None  # the window's: where to go once accepted
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        left, col = panel("Settings changed outside the station")
        col.addWidget(label("The files or the users below were changed without the station: they are not used. "
                            "Every part is rejected as NOT INSPECTED until a technician or an admin checks the "
                            "changes and accepts them with their signature (recorded with the old and new values), "
                            "or the files are put back as they were and the station is restarted.", "dim", wrap=True))
        self.listing = label("Checking…", wrap=True)
        self.listing.setObjectName("sealChanges")
        self.listing.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.listing)
        col.addWidget(scroll, 1)
        self.signature = SignaturePanel(ctx.touch, "Accept with your signature", reasons=REASONS)
        self.signature.sign.setText("Sign: accept")
        self.signature.signed.connect(self.accept_signed)
        self.signature.cancelled.connect(lambda: self.ctx.channel.info(
            "Nothing accepted: parts stay rejected as NOT INSPECTED", "accept the changes, or put the files back"))
        row.addWidget(left, 4)
        side = QVBoxLayout()
        side.addWidget(self.signature)
        side.addStretch(1)
        row.addLayout(side, 5)
        ctx.session.changed.connect(self._signer)
        self._signer(ctx.session.user)

    def _seals(self):
        return getattr(self.ctx.station.changes, "seals", None)

    # --- the window's calls ------------------------------------------------------------------
    def check(self, found: Callable[[list], None]) -> None:
        """Ask the station what waits to be accepted (background thread); `found(changes)` on the UI thread."""
        seals = self._seals()
        if seals is None:
            return

        def show(changes: list) -> None:
            self.show_changes(changes)
            found(changes)

        self.ctx.tasks.submit(seals.changes, show, self.ctx.channel.error)

    def show_changes(self, changes: list) -> None:
        """List each changed setting with its changed keys: old → new."""
        self.pending = list(changes)
        if not changes:
            self.listing.setText("Every setting matches what the station last wrote or accepted.")
            return
        blocks = []
        for change in changes:
            lines = change.lines() if change.kind == "changed" else []
            more = [f"… and {len(lines) - MAX_LINES} more"] if len(lines) > MAX_LINES else []
            body = "".join(f"<br>&nbsp;&nbsp;{html.escape(line)}" for line in lines[:MAX_LINES] + more)
            blocks.append(f"<b>{html.escape(change.summary(most=3))}</b><br><i>{html.escape(change.where)}</i>{body}")
        self.listing.setText("<br><br>".join(blocks))

    def on_show(self) -> None:
        """Check again each time the screen opens (a file may have been put back meanwhile)."""
        self.check(lambda _changes: None)

    def on_tick(self) -> None:
        """Nothing moves on this screen by itself."""

    # --- accepting ---------------------------------------------------------------------------
    def _signer(self, user) -> None:
        self.signature.reset()  # another person signs: their own reason and PIN
        self.signature.set_signer(user.name if user else "", user.role.value if user else "")

    def accept_signed(self, reason: str, pin: str) -> None:
        """Accept every listed change as the logged-in user, signed with `pin`; the station checks the role."""
        user = self.ctx.session.user
        seals = self._seals()
        if user is None:
            self.signature.show_failure("Nobody is logged in", "a technician or admin logs in, then signs again")
            return
        if seals is None:
            self.signature.show_failure("This station keeps no records", "restart it in production mode")
            return

        def done(accepted: list) -> None:
            self.signature.reset()
            self.show_changes([])
            self.ctx.channel.info(f"Accepted by {user.name} and recorded in the audit trail: "
                                  + "; ".join(c.summary(most=3) for c in accepted))
            self.accepted()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, StationError):
                self.signature.show_failure(exc.what, exc.todo)
            else:
                self.signature.show_failure("The changes could not be accepted", "try again; if it repeats, call "
                                                                                 "service")
                self.ctx.channel.error(exc)
            self.on_show()

        self.ctx.tasks.submit(lambda: seals.accept(user.name, pin, reason), done, failed)


__all__ = ["SealsScreen"]
