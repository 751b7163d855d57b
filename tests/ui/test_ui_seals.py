"""Settings changed outside the station on the screen (issue 15 item 3): the Settings changed screen comes up at
start, every part is NOT INSPECTED meanwhile, an operator's signature accepts nothing and a technician's,
tapped on the keypad, accepts the change (audited with old and new values) and the station inspects again.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
import tomli_w
from PySide6.QtCore import Qt

from hmi.config.loader import read_toml
from hmi.core.verdict import Verdict
from hmi.station import build_station
from hmi.store.database import database_path
from tests.support.stations import PIN
from tests.ui.conftest import log_in

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def tampered(station_factory):
    """A station whose recipe file got a new threshold behind its back, built for the screen (stopped after)."""
    first = station_factory(["ok", "ng"] * 4)
    cfg, data = first.cfg, first.data_dir
    first.stop()
    path = data / "recipes" / "ui-test.toml"
    recipe = read_toml(path)
    recipe["thresholds"].update(score=0.31, version=5)
    path.write_text(tomli_w.dumps(recipe), encoding="utf-8")
    station = build_station(cfg, data, accept_on_screen=True)
    station.start()
    yield station
    station.stop()


def sign(qtbot, panel, pin: str) -> None:
    """Tap the first offered reason, the PIN's keys, then Sign."""
    qtbot.mouseClick(panel.reason_buttons[0], LEFT)
    for digit in pin:
        qtbot.mouseClick(panel.keys[digit], LEFT)
    qtbot.mouseClick(panel.sign, LEFT)


def test_a_technician_accepts_the_change_on_the_screen_and_an_operator_cannot(tampered, open_window, qtbot):
    window = open_window(tampered)
    qtbot.waitUntil(lambda: window.current == "seals", timeout=10000)
    assert "thresholds.score: 0.3 → 0.31" in window.seals.listing.text()
    qtbot.waitUntil(lambda: tampered.outlet.counts().total >= 2, timeout=10000)
    assert {p.verdict for p in tampered.outlet.recent()} == {Verdict.NOT_INSPECTED}

    log_in(qtbot, window, "olga")
    qtbot.mouseClick(window.nav["setup"], LEFT)  # Setup leads to the changes while they wait
    assert window.current == "seals"
    sign(qtbot, window.seals.signature, PIN["olga"])
    qtbot.waitUntil(lambda: "Only a technician" in window.seals.signature.feedback.text(), timeout=10000)
    assert tampered.active.get().inspector is None

    log_in(qtbot, window, "theo")
    qtbot.mouseClick(window.nav["setup"], LEFT)
    sign(qtbot, window.seals.signature, PIN["theo"])
    qtbot.waitUntil(lambda: window.current == "live", timeout=10000)
    assert tampered.active.get().inspector is not None and tampered.active.get().thresholds.version == 5
    qtbot.waitUntil(lambda: any(p.verdict is not Verdict.NOT_INSPECTED for p in tampered.outlet.recent()),
                    timeout=10000)
    conn = sqlite3.connect(f"file:{database_path(tampered.data_dir)}?mode=ro", uri=True)
    (user, subject, old, new), = conn.execute(
        "SELECT user, subject, old_value, new_value FROM audit WHERE action = 'setting_accept'").fetchall()
    conn.close()
    assert (user, subject) == ("theo", "recipe ui-test")
    assert json.loads(old)["thresholds.score"] == 0.3 and json.loads(new)["thresholds.score"] == 0.31
