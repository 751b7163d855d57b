"""A HOLD part reaches the review queue; an operator logs in and decides it; the records and audit trail show it."""

from __future__ import annotations

from PySide6.QtCore import Qt

from hmi.core.verdict import Verdict
from hmi.decision.policy import confidence_text
from hmi.ui.screens import review as review_screen
from tests.ui.conftest import log_in


def _first_hold(qtbot, window):
    window.show_screen("review")
    qtbot.waitUntil(lambda: window.review.current() is not None, timeout=10000)
    qtbot.waitUntil(window.review.good.isEnabled, timeout=5000)  # armed a moment after the screen put it up
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


def test_ui_a_verdict_never_lands_on_a_part_the_operator_did_not_look_at(qtbot, station_factory, open_window,
                                                                        monkeypatch):
    station = station_factory(["hold"] + ["ok"] * 39, rate_hz=20.0)  # a held part every 2 s
    station.start()
    window = open_window(station)
    log_in(qtbot, window, "olga")
    kept = _first_hold(qtbot, window).part.seq                        # waits the recipe's 300 s
    station.holds.timeout_s = 3.0  # the queue's own cap: parts held from now on wait 3 s

    def short_hold():
        return next((h.part.seq for h in window.review.holds if h.timeout_s == 3.0), None)

    qtbot.waitUntil(lambda: short_hold() is not None, timeout=10000)
    seq = short_hold()
    seqs = [h.part.seq for h in window.review.holds]
    qtbot.mouseClick(window.review.queue_buttons[seqs.index(seq)], Qt.MouseButton.LeftButton)
    assert window.review.current().part.seq == seq and window.review.good.isEnabled()

    # Its time runs out while it is on screen: the screen says so and shows no other part in its place.
    qtbot.waitUntil(lambda: seq not in {h.part.seq for h in window.review.holds}, timeout=10000)
    assert window.review.current() is None
    assert window.review.part_title.text() == f"Part {seq} is no longer waiting"
    assert "default verdict NG was applied" in window.review.score.text()
    with qtbot.assertNotEmitted(window.review.decided):
        qtbot.mouseClick(window.review.good, Qt.MouseButton.LeftButton)
    window.refresh_slow()
    assert kept in {h.part.seq for h in station.holds.pending()}
    assert station.records.part(kept).reviewed_by is None

    # A tap on a part in the list shows it and arms Good again.
    qtbot.mouseClick(window.review.queue_buttons[0], Qt.MouseButton.LeftButton)
    assert window.review.current().part.seq == kept and window.review.good.isEnabled()

    # Decided: the screen moves on to the oldest part waiting, which a second tap of a double tap cannot decide.
    monkeypatch.setattr(review_screen, "ARM_S", 60.0)
    qtbot.mouseClick(window.review.good, Qt.MouseButton.LeftButton)
    _stored(qtbot, station, kept, "olga")
    qtbot.waitUntil(lambda: window.review.current() is not None and window.review.current().part.seq != kept,
                    timeout=10000)
    with qtbot.assertNotEmitted(window.review.decided):
        qtbot.mouseClick(window.review.good, Qt.MouseButton.LeftButton)
    assert not window.review.good.isEnabled()


def test_ui_live_and_review_show_one_count_of_parts_waiting(qtbot, station_factory, open_window):
    station = station_factory(["hold", "ok"], rate_hz=30.0, max_parts=6)   # three held parts, then the line stops
    station.start()
    window = open_window(station)
    qtbot.waitUntil(lambda: len(station.holds.pending()) == 3, timeout=10000)
    first = station.holds.pending()[0].part.seq
    station.review(first, Verdict.OK, station.users.get("olga"))            # one decided: two wait
    _stored(qtbot, station, first, "olga")
    assert station.outlet.counts().hold == 3                                 # judged HOLD this run

    window.show_screen("live")
    window.refresh_slow()
    hold_row = next(v for words, v in window.live.counters.values.items() if words.startswith("HOLD"))
    assert hold_row.text() == "2"
    assert window.nav["review"].text() == "Review (2)"
    window.show_screen("review")
    window.refresh_slow()
    assert window.review.queue_title.text() == "Held parts: 2"

