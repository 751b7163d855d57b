"""Technician screens on a real station whose camera is pylon's emulated camera (PYLON_CAMEMU).

The station is built by tests/support/stations.py like the UI tests' replay station (tiny ONNX model,
records in SQLite, users olga/theo/admin), but frames come from the emulated Basler camera replaying a folder of
same-size images (`camera.kind=emulated`, `camera.replay_path`), and every camera command goes through
the capture thread. `screen_context` hands a screen what the window would: touch size, station,
background thread, message channel, and a session with the user logged in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hmi.config.schema import InspectionRoi
from hmi.station import Station
from tests.support.stations import FRAME, PIN, stopped_afterwards, tiny_recipe, tiny_station, write_frames
from tests.support.stations import audit_rows as stored_audit_rows
from tests.ui.conftest import present


def build_emulated_station(root: Path, tiny_model: Path, kinds: list[str], *, rate_hz: float = 40.0,
                           roi: InspectionRoi | None = None, overrides: list[str] | None = None) -> Station:
    """A production station on the tiny model whose emulated Basler camera replays `kinds` frames; not started."""
    recipe = tiny_recipe("ui-test", frame_size=FRAME, margin=16, description="technician tests: grey frames with spots")
    if roi is not None:
        recipe = recipe.model_copy(update={"roi": roi})
    return tiny_station(root, tiny_model, [recipe], write_frames(root / "frames", kinds), camera="emulated",
                        rate_hz=rate_hz, settings=["camera.exposure_us=5000", "camera.gain_db=0", *(overrides or [])])


@pytest.fixture
def emulated_station(tmp_path, tiny_model):
    """Build (and afterwards stop) emulated-camera stations: `emulated_station(kinds, **options)`."""
    yield from stopped_afterwards(
        lambda root, kinds, **options: build_emulated_station(root, tiny_model, kinds, **options), tmp_path)


@pytest.fixture
def screen_context(qtbot):
    """`screen_context(station, user=None)`: the window's services for one screen; tasks shut down afterwards."""
    from hmi.ui.context import ScreenContext
    from hmi.ui.messages import MessageChannel
    from hmi.ui.session import OperatorSession
    from hmi.ui.tasks import BackgroundTasks
    from hmi.ui.touch import TouchSize

    made: list[BackgroundTasks] = []

    def make(station: Station, user: str | None = "theo") -> ScreenContext:
        channel = MessageChannel()
        channel.attach(lambda message: None)
        tasks = BackgroundTasks(channel)
        made.append(tasks)
        session = OperatorSession(station.users, tasks, channel)
        if user is not None:
            session.log_in(station.users.authenticate(user, PIN[user]))
        return ScreenContext(TouchSize.of(station.cfg.ui), station, tasks, channel, session)

    yield make
    from PySide6.QtCore import QCoreApplication

    for tasks in made:
        tasks.shutdown()
        # Results still on their way to a screen already closed are dropped, as the window's deletion drops them.
        QCoreApplication.removePostedEvents(tasks)


def show_screen(qtbot, screen, size: tuple[int, int] = (1280, 640)):
    """Show a screen with the station's style at the size it gets in a 1280 x 800 window, and open it."""
    present(qtbot, screen, size)
    screen.on_show()
    return screen


def wait_for_parts(qtbot, station: Station, count: int, timeout_ms: int = 10000) -> None:
    """Wait until `count` more parts were judged."""
    start = station.outlet.counts().total
    qtbot.waitUntil(lambda: station.outlet.counts().total >= start + count, timeout=timeout_ms)


def read_node(station: Station, name: str) -> float:
    """A GenICam node of the emulated camera, read on the capture thread (not what the screen says)."""
    return float(station.capture.call(lambda source: source._camera.GetNodeMap().GetNode(name).Value))


def audit_rows(station: Station, action: str) -> list[tuple[str, str, str | None, str | None, str]]:
    """(user, subject, old, new, reason) of the station's stored audit entries of `action`, oldest first."""
    return stored_audit_rows(station.data_dir, action)


def sign_by_taps(qtbot, panel, pin: str) -> None:
    """Sign a SignaturePanel as a technician would: tap the first preset reason, the PIN's keys, then Sign."""
    from PySide6.QtCore import Qt

    left = Qt.MouseButton.LeftButton
    qtbot.mouseClick(panel.reason_buttons[0], left)
    for digit in pin:
        qtbot.mouseClick(panel.keys[digit], left)
    qtbot.mouseClick(panel.sign, left)
