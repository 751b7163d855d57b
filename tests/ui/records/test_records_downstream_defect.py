"""The record browser's 'Defect found downstream': only for quality managers, touch-sized, signed, in the history."""

from __future__ import annotations

from PySide6.QtCore import Qt

from hmi.store.users import Role
from hmi.ui.touch import undersized
from tests.ui.conftest import PIN
from tests.ui.records.conftest import stored_seqs

QUINN_PIN = "246802"


def _tap(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def _open(qtbot, screen, seq: int) -> None:
    screen.open_part(seq)
    qtbot.waitUntil(lambda: screen.detail is not None and screen.detail.record.seq == seq, timeout=10000)


def _type_pin(qtbot, panel, pin: str) -> None:
    for digit in pin:
        _tap(qtbot, panel.keys[digit])


def test_records_only_a_quality_manager_sees_the_downstream_report(qtbot, records_screen, recorded_station):
    screen = records_screen
    ok_seq = stored_seqs(recorded_station, "WHERE verdict = 'OK'")[0]
    _open(qtbot, screen, ok_seq)
    assert not screen.report_button.isVisible()          # nobody logged in
    admin = recorded_station.users.authenticate("admin", PIN["admin"])
    recorded_station.users.add("quinn", Role.QUALITY, QUINN_PIN, admin)
    screen.ctx.session.log_in(recorded_station.users.authenticate("olga", PIN["olga"]))
    _open(qtbot, screen, ok_seq)
    assert not screen.report_button.isVisible()          # an operator may not
    screen.ctx.session.log_in(recorded_station.users.authenticate("quinn", QUINN_PIN))
    _open(qtbot, screen, ok_seq)
    assert screen.report_button.isVisible()


def test_records_report_a_defect_found_downstream_signed_and_shown_in_the_history(qtbot, records_screen,
                                                                                  recorded_station):
    screen = records_screen
    admin = recorded_station.users.authenticate("admin", PIN["admin"])
    recorded_station.users.add("quinn", Role.QUALITY, QUINN_PIN, admin)
    screen.ctx.session.log_in(recorded_station.users.authenticate("quinn", QUINN_PIN))
    ok_seq = stored_seqs(recorded_station, "WHERE verdict = 'OK'")[0]
    _open(qtbot, screen, ok_seq)
    _tap(qtbot, screen.report_button)
    panel = screen.defect_panel
    assert screen.part_stack.currentWidget() is panel
    qtbot.waitUntil(lambda: set(panel.type_buttons) == set(recorded_station.recipe.defect_types), timeout=5000)
    assert panel.part_text.text().startswith(f"Part {ok_seq} — recipe ui-test")
    assert "quinn (quality)" in panel.signer.text()
    assert [(t.what, t.width, t.height) for t in undersized(screen, screen.ctx.touch)] == []

    _type_pin(qtbot, panel, QUINN_PIN)
    _tap(qtbot, panel.sign)                               # no type chosen yet
    assert "Choose the defect type" in panel.feedback.text() and panel.pin == QUINN_PIN
    _tap(qtbot, panel.type_buttons["crack"])
    qtbot.keyClicks(panel.note, "crack at the rim, found at final test")
    panel.pad.pin = ""
    _type_pin(qtbot, panel, "0000")
    _tap(qtbot, panel.sign)                               # wrong PIN: refused, the panel stays
    qtbot.waitUntil(lambda: panel.sign.isEnabled(), timeout=10000)
    assert "Wrong name or PIN" in panel.feedback.text() and panel.pin == ""
    assert panel.defect_type == "crack" and screen.part_stack.currentWidget() is panel

    _type_pin(qtbot, panel, QUINN_PIN)
    _tap(qtbot, panel.sign)
    qtbot.waitUntil(lambda: screen.part_stack.currentIndex() == 0, timeout=10000)
    assert "defect found downstream — crack (crack at the rim, found at final test)" in screen.history.text()
    assert screen.ctx.channel.history[-1].text.startswith(f"Part {ok_seq} is recorded as a defect found downstream")
    rows = stored_seqs(recorded_station, "WHERE seq IN (SELECT seq FROM downstream_defects)")
    assert rows == [ok_seq]


def test_records_cancel_leaves_the_part_as_it_was(qtbot, records_screen, recorded_station):
    screen = records_screen
    screen.ctx.session.log_in(recorded_station.users.authenticate("admin", PIN["admin"]))  # an admin may too
    _open(qtbot, screen, recorded_station.reviewed_seq)
    _tap(qtbot, screen.report_button)
    panel = screen.defect_panel
    qtbot.waitUntil(lambda: bool(panel.type_buttons), timeout=5000)
    _tap(qtbot, panel.type_buttons["dent"])
    _tap(qtbot, panel.cancel)
    assert screen.part_stack.currentIndex() == 0 and panel.defect_type is None
    assert "downstream" not in screen.history.text()


def test_records_a_report_left_open_is_closed_when_its_signer_logs_out(qtbot, records_screen, recorded_station):
    screen = records_screen
    screen.ctx.session.log_in(recorded_station.users.authenticate("admin", PIN["admin"]))
    _open(qtbot, screen, recorded_station.reviewed_seq)
    _tap(qtbot, screen.report_button)
    panel = screen.defect_panel
    _type_pin(qtbot, panel, "99")
    screen.ctx.session.log_out()
    screen.on_tick()                                      # the window ticks every screen shown
    assert screen.part_stack.currentIndex() == 0 and panel.pin == "" and not screen.report_button.isVisible()
