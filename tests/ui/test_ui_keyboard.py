"""The on-screen keyboard in the station window at 1280 x 800, by taps only: a review note and a typed threshold
reach the records and the thresholds in force; a signature with a tapped preset reason is audited with that reason.
(The recipe name and teach count: tests/ui/technician/test_tech_keyboard.py.)
"""

from __future__ import annotations

from hmi.core.verdict import Verdict
from hmi.store.audit import AuditAction
from tests.support.stations import PIN
from tests.ui.conftest import log_in
from tests.ui.keyboard_taps import open_keys, tap, type_on
from tests.ui.technician.teach_recipes_station import audit_entries

def test_keyboard_types_a_review_note_and_a_threshold_signed_with_a_preset_reason(qtbot, station_factory,
                                                                                   open_window):
    station = station_factory(["hold", "ok", "ok"], rate_hz=20.0)
    station.start()
    window = open_window(station)
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.height() == 800)
    keyboard = window.keyboard

    # The review note, typed on the text keys; Cancel puts back what was there.
    log_in(qtbot, window, "olga")
    window.show_screen("review")
    qtbot.waitUntil(lambda: window.review.current() is not None, timeout=10000)
    seq = window.review.current().part.seq
    tap(qtbot, window.review.type_buttons["dent"])
    open_keys(qtbot, keyboard, window.review.note, "text")
    type_on(qtbot, keyboard, "xy", ok=False)
    assert window.review.note.text() == "xy"
    tap(qtbot, keyboard.keyboard.keys["cancel"])
    assert window.review.note.text() == "" and not keyboard.keyboard.isVisible()
    open_keys(qtbot, keyboard, window.review.note, "text")
    type_on(qtbot, keyboard, "Dent at rim, 3 mm")
    assert window.review.note.text() == "Dent at rim, 3 mm"
    tap(qtbot, window.review.defect)
    qtbot.waitUntil(lambda: (r := station.records.part(seq)) is not None and r.reviewed_by == "olga", timeout=10000)
    record = station.records.part(seq)
    assert (record.verdict, record.defect_type, record.review_note) == (Verdict.NG, "dent", "Dent at rim, 3 mm")

    # A threshold typed on the number keys (the first key replaces the value), signed with a preset reason.
    log_in(qtbot, window, "theo")
    window.show_screen("thresholds")
    screen = window.tools["thresholds"]
    qtbot.waitUntil(lambda: screen.history is not None and not screen.ctx.tasks.busy, timeout=10000)
    open_keys(qtbot, keyboard, screen.score_field.field, "numeric")
    type_on(qtbot, keyboard, "0.42")
    assert screen.score_field.value() == 0.42
    tap(qtbot, screen.apply)
    assert screen.right.currentWidget() is screen.signature
    signature = screen.signature
    assert [b.text() for b in signature.reason_buttons] == ["False rejects", "Escapes", "New lot", "Product change",
                                                            "Maintenance", "Correction"]
    tap(qtbot, signature.reason_buttons[0])
    for digit in PIN["theo"]:
        tap(qtbot, signature.keys[digit])
    tap(qtbot, signature.sign)
    qtbot.waitUntil(lambda: screen.applied_version == 2, timeout=10000)
    assert station.active.get().thresholds.score == 0.42
    qtbot.waitUntil(lambda: audit_entries(station, AuditAction.THRESHOLD_CHANGE.value)[-1]["user"] == "theo",
                    timeout=5000)
    assert audit_entries(station, AuditAction.THRESHOLD_CHANGE.value)[-1]["reason"] == "False rejects"
