"""The thresholds screen's Suggest: the set of least cost on the parts people judged fills the proposal, with its
consequences; too few judged parts are said in plain words; applying stays the signed path."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from hmi.services.tuning.suggest import suggest_thresholds
from hmi.ui.screens.thresholds import ThresholdsScreen
from hmi.ui.touch import undersized
from tests.ui.conftest import PIN
from tests.ui.technician.conftest import show_screen
from tests.ui.technician.thresholds_station import build_mixed_station, recorded, run_until

PARTS = 80


def tap(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


@pytest.fixture
def open_screen(qtbot, screen_context):
    def make(station, user: str = "theo") -> ThresholdsScreen:
        screen = show_screen(qtbot, ThresholdsScreen(screen_context(station, user)), (1280, 640))
        qtbot.waitUntil(lambda: screen.history is not None and not screen.ctx.tasks.busy, timeout=10000)
        return screen

    return make


def test_tech_thresholds_suggest_fills_the_proposal_and_shows_its_consequences(qtbot, tmp_path, tiny_model,
                                                                               open_screen):
    station = build_mixed_station(tmp_path, tiny_model, PARTS, rate_hz=40.0)
    station.start()
    try:
        run_until(station, PARTS)  # olga reviews every held part: good under 0.3, a defect above
        screen = open_screen(station)
        tap(qtbot, screen.suggest)
        qtbot.waitUntil(lambda: screen.suggestion is not None and screen.suggest.isEnabled(), timeout=10000)
        expected = suggest_thresholds(screen.history, station.changes.recipe.targets, screen.in_force)
        assert screen.proposal == expected.proposed and screen.proposal.version == screen.in_force.version + 1
        assert screen.score_field.field.text() == f"{expected.proposed.score:.4f}"
        assert screen.below_field.field.text() == f"{expected.proposed.hold_below:.4f}"
        assert screen.comparison == expected.comparison               # the consequence table is the suggestion's
        assert screen.table.item(5, 2).text().startswith(str(expected.comparison.proposed.escapes))
        assert screen.history_note.text().startswith("Suggested from the operators' verdicts. From ")
        assert [(t.what, t.width, t.height) for t in undersized(screen, screen.ctx.touch)] == []

        tap(qtbot, screen.apply)                                      # the signed path, as for any proposal
        assert screen.right.currentWidget() is screen.signature
        qtbot.keyClicks(screen.signature.reason, "suggested from the reviews")
        for digit in PIN["theo"]:
            tap(qtbot, screen.signature.keys[digit])
        tap(qtbot, screen.signature.sign)
        qtbot.waitUntil(lambda: screen.applied_version == 2, timeout=10000)
        t = station.active.get().thresholds
        assert (t.score, t.hold_below, t.hold_above) == (expected.proposed.score, expected.proposed.hold_below, 0.0)
        assert "Suggested" not in screen.history_note.text()
    finally:
        station.stop()


def test_tech_thresholds_suggest_without_enough_reviews_says_how_many_more(qtbot, tmp_path, tiny_model, open_screen):
    station = build_mixed_station(tmp_path, tiny_model, 12, rate_hz=40.0)
    station.start()
    try:
        qtbot.waitUntil(lambda: recorded(station) >= 12, timeout=20000)  # nobody reviews anything
        screen = open_screen(station)
        before = screen.proposal
        tap(qtbot, screen.suggest)
        qtbot.waitUntil(lambda: screen.suggest.isEnabled() and not screen.ctx.tasks.busy, timeout=10000)
        assert screen.suggestion is None and screen.proposal == before
        assert "too few parts judged by people" in screen.feedback.text()
        assert "5 more parts a person judges good" in screen.feedback.text()
    finally:
        station.stop()
