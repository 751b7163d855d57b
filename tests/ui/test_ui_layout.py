"""The window fits the common panels at their real DPI, and what an operator needs is always on screen (issue 16)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect

from hmi.ui.low_priority import LowPriority
from hmi.ui.window import SCREENS


def _inside(window, widget) -> bool:
    """Whether all of `widget` lies inside the window's area (nothing cut off at an edge)."""
    top_left = widget.mapTo(window, widget.rect().topLeft())
    return widget.isVisible() and window.rect().contains(QRect(top_left, widget.size()))


def _reports_busy(window) -> bool:
    """True while a screen waits for work on the station's report thread (a report, shift counters)."""
    return any(low.busy for low in window.findChildren(LowPriority))


# (panel dpi, panel size): resources/station.toml's default (96, a 15" 1280x800 or 1366x768 panel),
# a 15.6" 1366x768 panel (100 dpi) and a 15.6" 1920x1080 panel (141 dpi).
@pytest.mark.parametrize(("dpi", "size"), [(96.0, (1280, 800)), (100.0, (1366, 768)), (141.0, (1920, 1080))])
def test_ui_window_fits_the_panel_at_its_dpi_with_nav_verdict_and_login_on_screen(station_factory, open_window,
                                                                                   qtbot, dpi, size):
    station = station_factory(["ok", "hold"], rate_hz=5.0, overrides=[f"ui.panel_dpi={dpi}"])
    window = open_window(station)
    for name in SCREENS:  # each screen filled as it is shown (lists, forms), gated ones opened to look at
        window.show_screen(name, unguarded=True)
        qtbot.waitUntil(lambda: not window.tasks.busy and not _reports_busy(window), timeout=5000)
    hint = window.unscrolled_minimum()  # no screen needs to scroll at this panel's size
    assert hint.width() <= size[0] and hint.height() <= size[1], f"minimum {hint.width()}x{hint.height()} at {dpi} dpi"

    window.resize(*size)
    window.show_screen("review")
    qtbot.waitUntil(lambda: window.size().width() == size[0] and window.size().height() == size[1], timeout=5000)
    always = [*window.nav.values(), window.zone.user_button, window.review.good, window.review.defect]
    assert [b.text() for b in always if not _inside(window, b)] == []
    touch = window.touch
    for b in always:  # primary actions: at least 15 mm each way at this DPI
        assert min(b.width(), b.height()) >= touch.primary_px and touch.mm(min(b.width(), b.height())) >= 15.0, \
            f"{b.text()!r} {b.width()}x{b.height()} px"


def test_ui_a_panel_too_small_for_its_dpi_scrolls_its_largest_screens_and_keeps_the_nav_bar(station_factory,
                                                                                           open_window, qtbot):
    # A 12.1" 1280x800 panel (125 dpi): 9 mm targets do not leave room for the largest screens.
    station = station_factory(["ok", "hold"], rate_hz=5.0, overrides=["ui.panel_dpi=125"])
    window = open_window(station)
    station.start()
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.size().width() == 1280 and window.size().height() == 800, timeout=5000)
    window.show_screen("review")
    qtbot.waitUntil(lambda: window.review.current() is not None, timeout=10000)
    assert window.unscrolled_minimum().height() > 800 and "review" in window.scrolling_screens()
    assert [b.text() for b in [*window.nav.values(), window.zone.user_button] if not _inside(window, b)] == []
    page = window.pages["review"]
    page.ensureWidgetVisible(window.review.good)  # what a drag of the page's scroll bar does
    qtbot.waitUntil(lambda: _inside(window, window.review.good) and _inside(window, window.review.defect),
                    timeout=5000)
    assert page.verticalScrollBar().width() >= window.touch.px  # the scroll bar is a touch target itself
