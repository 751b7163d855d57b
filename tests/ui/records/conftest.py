"""A real station that has judged and recorded parts (one HOLD reviewed), and the records screen on it.

The station keeps running while the screen browses its records, as on the line.
"""

from __future__ import annotations

from contextlib import closing

import pytest

from hmi.core.verdict import Verdict
from hmi.services.reports.connection import open_reports
from hmi.ui.context import ScreenContext
from hmi.ui.messages import MessageChannel
from hmi.ui.session import OperatorSession
from hmi.ui.tasks import BackgroundTasks
from hmi.ui.touch import TouchSize
from tests.ui.conftest import PIN

KINDS = ["ok", "hold", "ng", "ok", "ok", "ng"]
MIN_PARTS = 12


def stored_seqs(station, where: str = "", args: tuple = ()) -> list[int]:
    """Sequence numbers in the records, newest captured first, straight from SQL (the test's yardstick)."""
    with closing(open_reports(station.data_dir)) as conn:
        return [r[0] for r in conn.execute(
            f"SELECT seq FROM inspections {where} ORDER BY captured_at DESC, seq DESC", args)]


@pytest.fixture
def recorded_station(qtbot, station_factory):
    """A running station with at least MIN_PARTS recorded parts, images of its NG parts, one HOLD reviewed by theo."""
    station = station_factory(KINDS, rate_hz=20.0)
    station.start()
    qtbot.waitUntil(lambda: bool(station.holds.pending()), timeout=15000)
    seq = station.holds.pending()[0].part.seq
    theo = station.users.authenticate("theo", PIN["theo"])
    station.review(seq, Verdict.NG, theo, "dent", "dent near the rim")

    def recorded() -> bool:
        rec = station.records.part(seq)
        with closing(open_reports(station.data_dir)) as conn:
            imaged = conn.execute("SELECT count(*) FROM inspections WHERE verdict = 'NG' AND auto_verdict = 'NG' "
                                  "AND image_path IS NOT NULL").fetchone()[0]
        return (rec is not None and rec.reviewed_by == "theo" and imaged >= 1
                and len(stored_seqs(station)) >= MIN_PARTS)

    qtbot.waitUntil(recorded, timeout=20000)
    station.reviewed_seq = seq
    return station


@pytest.fixture
def screen_context(qtbot, recorded_station):
    """The services the window hands each screen, on the recorded station; helper thread ended afterwards."""
    channel = MessageChannel()
    tasks = BackgroundTasks(channel)
    session = OperatorSession(recorded_station.users, tasks, channel)
    ctx = ScreenContext(TouchSize.of(recorded_station.cfg.ui), recorded_station, tasks, channel, session)
    channel.attach(lambda _message: None)  # messages are read from channel.history
    yield ctx
    tasks.shutdown()


@pytest.fixture
def records_screen(qtbot, screen_context):
    """The records screen at the station's 1280 x 800 panel size, shown and opened like the window opens it."""
    from hmi.ui.screens.records import RecordsScreen
    from tests.ui.conftest import present

    screen = present(qtbot, RecordsScreen(screen_context))
    yield screen
    screen.browser.close()


def wait_listed(qtbot, screen) -> None:
    """Wait until the screen's search has finished and its answer is on screen."""
    qtbot.waitUntil(lambda: screen.page is not None and not screen.searching and not screen.ctx.tasks.busy,
                    timeout=10000)
