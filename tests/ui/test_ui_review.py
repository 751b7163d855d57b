"""A HOLD part reaches the review queue; an operator logs in and decides it; the records and audit trail show it."""

from __future__ import annotations

from PySide6.QtCore import Qt

from hmi.core.verdict import Verdict
from hmi.decision.policy import confidence_text
from tests.ui.conftest import log_in


def _first_hold(qtbot, window):
    window.show_screen("review")
    qtbot.waitUntil(lambda: window.review.current() is not None, timeout=10000)
    return window.review.current()


def _stored(qtbot, station, seq: int, reviewer: str):
    holder = {}

    def reviewed() -> bool:
        record = station.records.part(seq)
        holder["record"] = record
        return record is not None and record.reviewed_by == reviewer

    qtbot.waitUntil(reviewed, timeout=10000)
    return holder["record"]


def test_ui_operator_confirms_a_held_part_as_good(qtbot, station_factory, open_window):
    station = station_factory(["ok", "hold", "ok"], rate_hz=20.0)
    station.start()
    window = open_window(station)
    hold = _first_hold(qtbot, window)
    seq = hold.part.seq
    assert hold.part.verdict is Verdict.HOLD
    assert window.review.queue_buttons[0].text().startswith(f"Part {seq}")
    confidence = hold.part.decision.confidence
    assert 0.05 <= confidence < 0.5                          # the HOLD band lies between 5 % and 50 %
    score_line = window.review.score.text().split("\n")[0].replace("\u00a0", " ")
    assert score_line == f"Score {hold.part.inspection.score:.3f} · {confidence_text(confidence)}"

    # Locked: the decision is refused with plain words and the login screen opens.
    qtbot.mouseClick(window.review.good, Qt.MouseButton.LeftButton)
    assert window.current == "login"
    assert "log in" in window.banner.text.text().lower()

    log_in(qtbot, window, "olga")
    assert window.current == "review"  # back where the operator wanted to act
    window.review.select(seq)
    qtbot.mouseClick(window.review.good, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: seq not in {h.part.seq for h in station.holds.pending()}, timeout=5000)

    record = _stored(qtbot, station, seq, "olga")
    assert record.auto_verdict is Verdict.HOLD
    assert record.verdict is Verdict.OK
    assert record.confidence == confidence                   # the records keep the number the screen showed
    assert record.reviewed_at is not None
    history = station.records.part_history(seq)
    assert [(e.user, e.action, e.old_value, e.new_value) for e in history] == [("olga", "review", "HOLD", "OK")]
    qtbot.waitUntil(lambda: f"Part {seq}: OK recorded by olga" in window.banner.text.text(), timeout=5000)


def test_ui_defect_needs_a_type_and_is_recorded_with_it(qtbot, station_factory, open_window):
    station = station_factory(["hold", "ok"], rate_hz=20.0)
    station.start()
    window = open_window(station)
    log_in(qtbot, window, "olga")
    seq = _first_hold(qtbot, window).part.seq
    window.review.select(seq)

    qtbot.mouseClick(window.review.defect, Qt.MouseButton.LeftButton)
    assert "defect type" in window.banner.text.text()
    assert seq in {h.part.seq for h in station.holds.pending()}

    qtbot.mouseClick(window.review.type_buttons["dent"], Qt.MouseButton.LeftButton)
    window.review.note.setText("dent near the rim")
    qtbot.mouseClick(window.review.defect, Qt.MouseButton.LeftButton)
    record = _stored(qtbot, station, seq, "olga")
    assert (record.verdict, record.defect_type, record.review_note) == (Verdict.NG, "dent", "dent near the rim")


def test_ui_unreviewed_hold_takes_the_recipe_default_and_says_so(qtbot, station_factory, open_window):
    station = station_factory(["hold"] + ["ok"] * 30, rate_hz=20.0)
    station.holds.timeout_s = 1.0  # the recipe allows 5 s at least; the queue's own limit is shortened here
    station.start()
    window = open_window(station)
    qtbot.waitUntil(lambda: "was not reviewed within 1 s" in window.banner.text.text(), timeout=10000)
    text = window.banner.text.text()
    assert "default verdict NG was applied" in text
    seq = int(text.split()[1])
    record = _stored(qtbot, station, seq, "system")
    assert record.verdict is Verdict.NG
