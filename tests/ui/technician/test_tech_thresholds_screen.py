"""Thresholds screen on a running station (pylon emulator, tiny ONNX model, records in SQLite): predictions,
what-if, and a signed threshold change that the next part's record and the audit trail name."""

from __future__ import annotations

import json
import sqlite3

import pytest
from PySide6.QtCore import Qt

from hmi.services.tuning.score_history import Judgement
from hmi.config.schema import RecipeThresholds
from hmi.core.errors import PermissionDenied
from hmi.decision.policy import ThresholdSet
from hmi.ui.screens.thresholds import ThresholdsScreen
from hmi.ui.touch import undersized
from tests.ui.conftest import PIN
from tests.ui.technician.conftest import show_screen
from tests.ui.technician.thresholds_station import build_mixed_station, run_until

PARTS = 80


@pytest.fixture
def running(tmp_path, tiny_model):
    """A started station that has recorded (and partly reviewed) PARTS mixed parts."""
    station = build_mixed_station(tmp_path, tiny_model, PARTS, rate_hz=40.0)
    station.start()
    run_until(station, PARTS)
    yield station
    station.stop()


@pytest.fixture
def open_screen(qtbot, screen_context):
    """Open the thresholds screen for `station` with `user` logged in, as the window would."""

    def make(station, user: str = "theo") -> ThresholdsScreen:
        screen = show_screen(qtbot, ThresholdsScreen(screen_context(station, user)), (1280, 800))
        qtbot.waitUntil(lambda: screen.history is not None and not screen.ctx.tasks.busy, timeout=10000)
        return screen

    return make


def tap(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def type_value(qtbot, field, text: str) -> None:
    """Replace a number field's text like a person: select all, type, Enter."""
    field.field.selectAll()
    qtbot.keyClicks(field.field, text)
    qtbot.keyClick(field.field, Qt.Key.Key_Return)


def sign(qtbot, screen, reason: str, pin: str) -> None:
    qtbot.keyClicks(screen.signature.reason, reason)
    for digit in pin:
        tap(qtbot, screen.signature.keys[digit])
    tap(qtbot, screen.signature.sign)


def rows(station, sql: str, *args) -> list[sqlite3.Row]:
    conn = sqlite3.connect(station.data_dir / "hmi.db")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_tech_thresholds_signed_change_reaches_the_next_part_and_the_audit_trail(qtbot, running, open_screen):
    screen = open_screen(running)
    assert len(screen.history) >= PARTS - 5
    assert not undersized(screen, screen.ctx.touch)
    type_value(qtbot, screen.score_field, "0.42")
    assert screen.proposal.score == pytest.approx(0.42)
    assert screen.chart.threshold.value() == pytest.approx(0.42)
    assert screen.comparison.proposed == screen.history.predict(screen.proposal)

    tap(qtbot, screen.apply)
    assert screen.right.currentWidget() is screen.signature
    assert "theo" in screen.signature.signer.text()
    assert not undersized(screen, screen.ctx.touch)
    sign(qtbot, screen, "fewer false rejects on lot 7", PIN["theo"])
    qtbot.waitUntil(lambda: screen.applied_version == 2, timeout=10000)
    assert running.active.get().thresholds == ThresholdSet(2, 0.42, 0.05, 0.05, 0)
    assert screen.right.currentIndex() == 0 and screen.in_force.version == 2
    assert any("version 2" in m.what for m in screen.ctx.channel.history)

    # the next parts judged are recorded under the new version
    last_before = rows(running, "SELECT MAX(seq) AS m FROM inspections")[0]["m"]
    qtbot.waitUntil(lambda: rows(running, "SELECT COUNT(*) AS n FROM inspections WHERE seq > ? "
                                          "AND threshold_version = 2", last_before)[0]["n"] >= 3, timeout=20000)
    after = rows(running, "SELECT seq, threshold_version FROM inspections WHERE seq > ? ORDER BY seq", last_before)
    first_new = next(r["seq"] for r in after if r["threshold_version"] == 2)
    assert all(r["threshold_version"] == 2 for r in after if r["seq"] >= first_new)
    assert first_new - last_before <= 3   # at most the parts already in the model when it was signed

    [change] = rows(running, "SELECT * FROM audit WHERE action = 'threshold_change' AND user = 'theo'")
    assert change["reason"] == "fewer false rejects on lot 7"
    assert json.loads(change["new_value"])["version"] == 2 and json.loads(change["new_value"])["score"] == 0.42
    assert json.loads(change["old_value"])["score"] == 0.3
    assert rows(running, "SELECT * FROM audit WHERE action = 'signature' AND user = 'theo'")


def test_tech_thresholds_wrong_pin_is_refused_in_plain_words_and_changes_nothing(qtbot, running, open_screen):
    screen = open_screen(running)
    type_value(qtbot, screen.score_field, "0.5")
    tap(qtbot, screen.apply)
    sign(qtbot, screen, "trying", "1111")
    qtbot.waitUntil(lambda: screen.signature.sign.isEnabled(), timeout=10000)
    assert "Wrong name or PIN" in screen.signature.feedback.text()
    assert screen.signature.pin == "" and screen.signature.reason.text() == "trying"
    assert screen.right.currentWidget() is screen.signature
    assert running.active.get().thresholds.version == 1
    assert not rows(running, "SELECT * FROM audit WHERE action = 'threshold_change' AND user != 'station'")
    assert [r["version"] for r in rows(running, "SELECT version FROM threshold_sets")] == [1]

    screen.signature.reason.clear()
    tap(qtbot, screen.signature.sign)
    assert "reason" in screen.signature.feedback.text()
    tap(qtbot, screen.signature.cancel)
    assert screen.right.currentIndex() == 0


def test_tech_thresholds_an_operator_cannot_apply(qtbot, running, open_screen):
    screen = open_screen(running, "olga")
    type_value(qtbot, screen.score_field, "0.5")
    tap(qtbot, screen.apply)
    assert screen.right.currentIndex() == 0
    assert screen.feedback.text() == "✖ Only a technician can change thresholds. Ask a technician to log in."
    # the station refuses too, whatever a screen lets through
    olga = screen.ctx.session.user
    with pytest.raises(PermissionDenied):
        running.changes.apply_thresholds(RecipeThresholds(score=0.5), olga, PIN["olga"], "trying")
    assert running.active.get().thresholds.version == 1
    assert not rows(running, "SELECT * FROM audit WHERE action = 'threshold_change' AND user != 'station'")


def test_tech_thresholds_dragging_the_lines_moves_the_band_and_the_predictions(qtbot, running, open_screen):
    screen = open_screen(running)
    history = screen.history
    assert len(history.scores_of(Judgement.NOT_REVIEWED)) and screen.chart.bars
    screen.chart.threshold.setPos(0.36)            # what a drag of the threshold line does
    assert screen.proposal.score == pytest.approx(0.36)
    assert (screen.proposal.hold_below, screen.proposal.hold_above) == (0.05, 0.05)   # the band went along
    assert screen.chart.hold_low.value() == pytest.approx(0.31)
    screen.chart.ng_from.setPos(0.45)              # widen the band above
    assert screen.proposal.hold_above == pytest.approx(0.09)
    assert screen.above_field.field.text() == "0.0900"
    expected = history.predict(screen.proposal)
    assert screen.comparison.proposed == expected
    assert screen.table.item(1, 2).text() == str(expected.hold)
    tap(qtbot, screen.revert)
    assert screen.proposal == screen.in_force


def test_tech_thresholds_by_touch_steps_follow_the_range_repeat_when_held_and_handles_are_apart(qtbot, running, open_screen):
    screen = open_screen(running)
    top = screen.chart.top                              # the chart's score range: 0 to top
    start = screen.proposal.score
    tap(qtbot, screen.score_field.plus)
    assert screen.proposal.score == pytest.approx(round(start + 0.01 * top, 4))   # 1 % of the range per tap
    tap(qtbot, screen.fine)
    assert screen.fine.text().startswith("Fine steps") and "(0.1 % of range)" in screen.fine.text()
    tap(qtbot, screen.score_field.minus)
    assert screen.proposal.score == pytest.approx(round(start + 0.009 * top, 4), abs=2e-4)
    tap(qtbot, screen.fine)                             # back to coarse steps
    # Press and hold: the step repeats until the finger lifts.
    before = screen.proposal.hold_above
    qtbot.mousePress(screen.above_field.plus, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.proposal.hold_above >= before + 5 * 0.01 * top - 1e-4, timeout=5000)
    qtbot.mouseRelease(screen.above_field.plus, Qt.MouseButton.LeftButton)
    held = screen.proposal.hold_above
    tap(qtbot, screen.above_field.plus)                 # lifted: one tap is one step again
    assert screen.proposal.hold_above == pytest.approx(round(held + 0.01 * top, 4), abs=2e-4)
    assert screen.chart.ng_from.value() == pytest.approx(screen.proposal.ng_from, abs=1e-3)

    # Drag handles: finger-sized (15 mm at the panel's DPI) and apart, even when the three lines meet.
    touch = screen.ctx.touch
    screen.set_proposal(ThresholdSet(1, 0.30, 0.002, 0.002))   # three lines a pixel or two apart
    lines = (screen.chart.threshold, screen.chart.hold_low, screen.chart.ng_from)
    height = lines[0].getViewBox().size().height()
    for line in lines:
        assert line.markers[0][2] >= touch.primary_px and touch.mm(line.markers[0][2]) >= 15 - 0.1
    handles = sorted(line.handle_at for line in lines)
    assert min(b - a for a, b in zip(handles, handles[1:])) * height >= touch.primary_px   # no handle overlaps
    for line in lines:                                   # each handle grabs its own line and no other
        left, right = line._endPoints
        for other in lines:
            at = left + other.handle_at * (right - left)
            assert line.on_handle(at) is (other is line)


def test_tech_thresholds_what_if_rescored_stored_images_keeps_the_screen_responsive(qtbot, running, open_screen,
                                                                                      monkeypatch):
    import threading

    import hmi.services.tuning.whatif as whatif_module

    screen = open_screen(running)
    screen.set_proposal(ThresholdSet(2, 0.2, 0.0, 0.0))
    beats, ui_ran = [0], threading.Event()

    def beat() -> None:
        beats[0] += 1
        if beats[0] >= 3:
            ui_ran.set()

    real_rescore, rescored_on = whatif_module.rescore, []

    def rescore_once_the_ui_ran(*args, **kwargs):
        # Re-scoring starts only after the UI thread handled three timer beats: on the UI thread it never would.
        rescored_on.append((threading.current_thread(), ui_ran.wait(30)))
        return real_rescore(*args, **kwargs)

    monkeypatch.setattr(whatif_module, "rescore", rescore_once_the_ui_ran)
    from PySide6.QtCore import QTimer
    timer = QTimer()
    timer.timeout.connect(beat)
    timer.start(10)
    tap(qtbot, screen.run_whatif)
    qtbot.waitUntil(lambda: screen.whatif_result is not None, timeout=30000)
    timer.stop()
    result = screen.whatif_result
    stored = sum(1 for p in screen.history.parts if p.image_path)
    assert len(result.parts) == min(stored, 200) > 0
    assert all((p.new_verdict.name == "OK") == (p.new_score < 0.2) for p in result.parts)
    assert "Re-scored" in screen.whatif_text.text() and screen.run_whatif.isEnabled()
    [(thread, ui_was_free)] = rescored_on
    assert thread is not threading.main_thread() and ui_was_free, "the UI stalled during the what-if"
