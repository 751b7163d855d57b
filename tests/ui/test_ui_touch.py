"""Every touch target on every screen is at least the configured size at the panel's DPI."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from hmi.core.alarm_catalogue import DISK_LOW
from hmi.ui.touch import TouchSize, touch_targets, undersized
from tests.ui.conftest import log_in


def test_ui_touch_size_from_dpi_and_millimetres():
    assert TouchSize(96.0, 15.0).px == 57          # 15 mm at 96 dpi = 56.7 px, rounded up
    assert TouchSize(160.0, 15.0).px == 95
    assert TouchSize(96.0, 15.0).mm(57) >= 15.0
    assert TouchSize(254.0, 10.0).px == 100        # exact values are not rounded up a pixel
    assert TouchSize(141.0, 9.0, 15.0).px == 50 and TouchSize(141.0, 9.0, 15.0).primary_px == 84


def _walk_every_screen(qtbot, window, station) -> dict[str, list]:
    """Open each screen in the state with the most on it; return its touch targets."""
    found = {}
    qtbot.waitUntil(lambda: window.live.drawn_version > 0 and len(station.holds.pending()) >= 2, timeout=10000)
    window.refresh_slow()
    found["live"] = touch_targets(window)
    window.show_screen("review")
    found["review"] = touch_targets(window)
    window.show_screen("alarms")
    qtbot.mouseClick(window.alarms.shelve, Qt.MouseButton.LeftButton)  # the shelve panel open
    found["alarms"] = touch_targets(window)
    window.show_screen("login")
    qtbot.waitUntil(lambda: len(window.login.user_buttons) == 3, timeout=5000)
    found["login"] = touch_targets(window)
    window.open_part(station.outlet.recent()[-1])
    qtbot.waitUntil(lambda: not window.tasks.busy, timeout=5000)
    found["part"] = touch_targets(window)
    log_in(qtbot, window, "theo")
    assert window.show_screen("setup")
    found["setup"] = touch_targets(window)
    return found


@pytest.mark.parametrize("dpi", [96.0, 130.0])
def test_ui_every_clickable_widget_is_at_least_the_minimum(qtbot, station_factory, open_window, dpi):
    station = station_factory(["ok", "hold", "ng"], rate_hz=30.0, overrides=[f"ui.panel_dpi={dpi}"])
    station.alarms.raise_(DISK_LOW, free_mb=300, folder="the data disk", limit_mb=500)
    station.start()
    window = open_window(station)
    touch = TouchSize.of(station.cfg.ui)
    assert window.touch == touch
    screens = _walk_every_screen(qtbot, window, station)
    for name, targets in screens.items():
        kinds = {type(t.widget).__name__ for t in targets}
        assert len(targets) >= 6 and "QPushButton" in kinds, f"{name}: the walk found too little ({kinds})"
    # Each screen's own controls were walked (not just the navigation bar).
    assert any(t.widget is window.review.good for t in screens["review"])
    assert any(t.widget is window.alarms.shelve_now for t in screens["alarms"])
    assert any(t.widget is window.login.keys["0"] for t in screens["login"])
    assert any(t.widget is window.part.back for t in screens["part"])
    assert any(t.widget in window.live.strip.buttons for t in screens["live"])
    too_small = [f"{name}: {t.what} {t.width}x{t.height} px < {t.smallest(touch)} px"
                 for name, targets in screens.items() for t in targets if t.too_small(touch)]
    assert not too_small, "\n".join(too_small)
    # Primary actions are marked and measured against 15 mm; every other target against 9 mm.
    primary = {t.widget for targets in screens.values() for t in targets if t.primary}
    assert {window.review.good, window.review.defect, window.login.enter, window.zone.user_button,
            *window.nav.values()} <= primary
    assert touch.mm(touch.primary_px) >= 15.0 and touch.mm(touch.px) >= 9.0 and touch.px < touch.primary_px
    assert not undersized(window, touch)  # the helper the walk is built on agrees, on the screen now shown
