"""What every screen is handed by the window: sizes, the station, the background thread, messages, the user."""

from __future__ import annotations

from dataclasses import dataclass

from hmi.ui.messages import MessageChannel
from hmi.ui.port import StationPort
from hmi.ui.session import OperatorSession
from hmi.ui.tasks import BackgroundTasks
from hmi.ui.touch import TouchSize


@dataclass(frozen=True)
class ScreenContext:
    """The window's shared services; a screen keeps it and never reaches past it to the station's internals.

    `tasks.submit(work, done, failed)` runs blocking work (disk, database, model) off the UI thread;
    `channel.info/warning/error` shows plain-word messages in the banner; `session.user` is who is
    logged in (None when nobody is) and `session.denial(Permission.X)` says why an action is refused.
    """

    touch: TouchSize
    station: StationPort
    tasks: BackgroundTasks
    channel: MessageChannel
    session: OperatorSession
