"""One decision, one number: the heatmap scale, the verdict, setup and teach name the NG limit in force alike,
and all follow a signed threshold change (issue 16, item 6)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from hmi.config.schema import RecipeThresholds
from hmi.core.verdict import Verdict
from tests.support.stations import PIN
from tests.ui.conftest import log_in


def _setup_row(window, name: str) -> str:
    table = window.setup.table
    return next(table.item(r, 1).text() for r in range(table.rowCount()) if table.item(r, 0).text() == name)


def _teach_row(window) -> str:
    teach = window.tools["teach"]
    in_force = window.station.recipe.model.name
    return teach.model_list.buttons[in_force].text()


def test_ui_every_screen_names_the_ng_limit_in_force_and_follows_a_signed_change(qtbot, station_factory,
                                                                                   open_window):
    station = station_factory(["ng"], rate_hz=20.0)
    station.start()
    window = open_window(station)
    log_in(qtbot, window, "theo")
    window.show_screen("teach")
    teach = window.tools["teach"]
    qtbot.waitUntil(lambda: station.recipe.model.name in teach.model_list.buttons, timeout=10000)

    def all_say(limit: str, version: int) -> None:
        window.show_screen("live")
        qtbot.waitUntil(lambda: window.live.view.drawn_part is not None
                        and window.live.view.drawn_part.setup.threshold_version == version, timeout=10000)
        part = window.live.view.drawn_part
        assert part.verdict is Verdict.NG
        assert window.live.scale.caption().endswith(f"≥ {limit} = defect")
        assert (0.5, f"{limit} NG") in window.live.scale.ticks()
        assert part.decision.reason.endswith(f"at or above {limit}")
        assert window.live.reason.text() == part.decision.reason
        qtbot.mouseClick(window.nav["setup"], Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: f"NG from score {limit}" in _setup_row(window, "Threshold set"), timeout=5000)
        window.show_screen("teach")
        qtbot.waitUntil(lambda: f"NG from {limit} in force" in _teach_row(window), timeout=5000)

    all_say("0.350", 1)  # threshold 0.3 with a HOLD band of 0.05 above it
    theo = station.users.authenticate("theo", PIN["theo"])
    station.changes.apply_thresholds(RecipeThresholds(score=0.3, hold_below=0.05, hold_above=0.08), theo,
                                     PIN["theo"], "wider band after complaint 12")
    all_say("0.380", 2)
