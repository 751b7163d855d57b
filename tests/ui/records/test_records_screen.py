"""The record browser on a running station's real records: list, filter, page, open a part, export, touch sizes."""

from __future__ import annotations

import csv
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt

from hmi.core.verdict import Verdict
from hmi.decision.policy import confidence_text
from hmi.services.reports.browse import RECORD_COLUMNS
from hmi.ui.screens import records as records_module
from hmi.ui.touch import undersized
from tests.ui.conftest import PIN
from tests.ui.records.conftest import stored_seqs, wait_listed


def _choose(qtbot, screen, preset: str) -> None:
    qtbot.mouseClick(screen.presets[preset], Qt.MouseButton.LeftButton)
    wait_listed(qtbot, screen)


def _listed(screen) -> list[int]:
    return [int(screen.table.item(row, 0).text()) for row in range(screen.table.rowCount())]


def test_records_lists_the_parts_newest_first_in_plant_time(qtbot, records_screen, recorded_station):
    screen = records_screen
    screen.on_show()
    wait_listed(qtbot, screen)
    _choose(qtbot, screen, "last_7_days")
    expected = stored_seqs(recorded_station, "WHERE seq <= ?", (screen.records[0].seq,))
    assert _listed(screen) == expected[:len(screen.records)] and len(screen.records) >= 12
    first = screen.records[0]
    tz = ZoneInfo(recorded_station.cfg.shifts.timezone)
    assert screen.table.item(0, 1).text() == first.captured_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    assert screen.table.item(0, 3).text().startswith(first.verdict.label)
    reviewed = _listed(screen).index(recorded_station.reviewed_seq)
    assert screen.table.item(reviewed, 3).text() == "NG (reviewed)"  # a review, not an override (as reports count)
    assert screen.table.item(reviewed, 4).text() == "HOLD"
    assert screen.table.item(reviewed, 7).text() == "theo"
    assert screen.recipe_box.findText("ui-test") > 0  # recipe choices came from the records


def test_records_filter_by_verdict_recipe_and_part_number(qtbot, records_screen, recorded_station):
    screen = records_screen
    screen.presets["last_7_days"].setChecked(True)
    qtbot.mouseClick(screen.verdict_buttons[Verdict.NG], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(screen.search_button, Qt.MouseButton.LeftButton)
    wait_listed(qtbot, screen)
    newest = screen.records[0].seq
    assert _listed(screen) == stored_seqs(recorded_station, "WHERE verdict = 'NG' AND seq <= ?", (newest,))
    assert {r.verdict for r in screen.records} == {Verdict.NG}

    qtbot.mouseClick(screen.verdict_buttons[Verdict.NG], Qt.MouseButton.LeftButton)
    screen.recipe_box.addItem("another-recipe")
    screen.recipe_box.setCurrentText("another-recipe")
    qtbot.mouseClick(screen.search_button, Qt.MouseButton.LeftButton)
    wait_listed(qtbot, screen)
    assert screen.records == [] and screen.page_label.text() == "No part matches this filter."

    screen.recipe_box.setCurrentIndex(0)
    qtbot.keyClicks(screen.seq_field, str(recorded_station.reviewed_seq))
    qtbot.keyClick(screen.seq_field, Qt.Key.Key_Return)
    wait_listed(qtbot, screen)
    assert _listed(screen) == [recorded_station.reviewed_seq]


def test_records_pages_older_and_newer_without_gaps(qtbot, records_screen, recorded_station, monkeypatch):
    monkeypatch.setattr(records_module, "PAGE_SIZE", 4)
    screen = records_screen
    screen.presets["last_7_days"].setChecked(True)
    screen.search()
    wait_listed(qtbot, screen)
    first_page = _listed(screen)
    seen = list(first_page)
    for _ in range(2):
        assert screen.older_button.isEnabled()
        qtbot.mouseClick(screen.older_button, Qt.MouseButton.LeftButton)
        wait_listed(qtbot, screen)
        seen += _listed(screen)
    assert seen == stored_seqs(recorded_station, "WHERE seq <= ?", (first_page[0],))[:12]
    assert screen.page_label.text().startswith("Parts 9–12")
    qtbot.mouseClick(screen.newer_button, Qt.MouseButton.LeftButton)
    wait_listed(qtbot, screen)
    assert _listed(screen) == seen[4:8]
    qtbot.mouseClick(screen.newest_button, Qt.MouseButton.LeftButton)
    wait_listed(qtbot, screen)
    assert _listed(screen)[0] >= first_page[0] and not screen.newer_button.isEnabled()


def test_records_lot_search_goes_on_step_by_step_until_the_page_is_full(qtbot, records_screen, recorded_station,
                                                                        monkeypatch):
    from hmi.services.reports import browse

    monkeypatch.setattr(browse, "SLICE_ROWS", 2)   # a tiny database searched like a 6-million-part one
    monkeypatch.setattr(browse, "BUDGET_S", 0.0)   # one slice per step
    monkeypatch.setattr(records_module, "PAGE_SIZE", 5)
    screen = records_screen
    pages = []
    asked = screen.browser.page
    screen.browser.page = lambda *args, **kw: pages.append(asked(*args, **kw)) or pages[-1]
    screen.presets["last_7_days"].setChecked(True)
    qtbot.keyClicks(screen.lot_field, "no-such-lot")
    screen.search()
    wait_listed(qtbot, screen)
    assert len(pages) >= 3 and all(p.searched_to is not None for p in pages[:-1])
    searched = [p.searched_to for p in pages[:-1]]
    assert searched == sorted(searched, reverse=True)   # each step searched further back
    assert pages[-1].searched_to is None and not pages[-1].more
    assert screen.records == [] and screen.page_label.text() == "No part matches this filter."

    screen.lot_field.clear()
    qtbot.keyClicks(screen.part_id_field, "none")  # replayed parts carry no part id
    screen.search()
    qtbot.waitUntil(lambda: screen.stop_button.isVisible() or not screen.searching, timeout=10000)
    if screen.searching:
        qtbot.mouseClick(screen.stop_button, Qt.MouseButton.LeftButton)
        assert "Search stopped" in screen.status.text() and screen.search_button.isVisible()


def test_records_part_view_shows_pictures_regions_every_field_and_history(qtbot, records_screen, recorded_station):
    screen = records_screen
    screen.presets["last_7_days"].setChecked(True)
    screen.search()
    wait_listed(qtbot, screen)
    row = _listed(screen).index(recorded_station.reviewed_seq)
    rect = screen.table.visualRect(screen.table.model().index(row, 0))
    qtbot.mouseClick(screen.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: screen.detail is not None, timeout=10000)
    assert screen.stack.currentIndex() == 1
    record = screen.detail.record
    assert record.seq == recorded_station.reviewed_seq
    fields = {screen.fields.item(r, 0).text(): screen.fields.item(r, 1).text() for r in range(screen.fields.rowCount())}
    assert len(fields) == len(RECORD_COLUMNS)
    assert fields["Reviewed by"] == "theo" and fields["Defect type"] == "dent"
    assert fields["Final verdict"] == "NG (reviewed)" and fields["Automatic verdict"] == "HOLD"
    assert fields["Review note"] == "dent near the rim"
    assert 0.05 <= record.confidence < 0.5 and fields["Defect confidence"] == confidence_text(record.confidence)
    assert "theo: review HOLD → NG" in screen.history.text()
    assert screen.image_view.drawn_part.image is not None
    assert screen.image_view.drawn_part.image.shape[:2] == (384, 384)
    assert screen.heat_view.drawn_part.image.ndim == 3   # the stored colour overlay
    assert record.regions == () and screen.regions.item(0, 1).text() == "No region stored"

    qtbot.mouseClick(screen.back, Qt.MouseButton.LeftButton)
    assert screen.stack.currentIndex() == 0 and screen.table.rowCount() > 0
    ng_seq = stored_seqs(recorded_station, "WHERE auto_verdict = 'NG' AND image_path IS NOT NULL")[0]
    screen.open_part(ng_seq)
    qtbot.waitUntil(lambda: screen.detail is not None and screen.detail.record.seq == ng_seq, timeout=10000)
    record = screen.detail.record
    assert screen.regions.rowCount() == len(record.regions) >= 1
    assert screen.regions.item(0, 2).text() == str(record.regions[0].area_px)
    assert screen.heat_view.contours.path().elementCount() > 0   # the regions drawn on the stored heatmap


def test_records_part_without_kept_image_says_why(qtbot, records_screen, recorded_station):
    ok_seq = stored_seqs(recorded_station, "WHERE verdict = 'OK' AND image_path IS NULL")[0]
    screen = records_screen
    screen.open_part(ok_seq)
    qtbot.waitUntil(lambda: screen.detail is not None, timeout=10000)
    assert screen.image_view.drawn_part.image is None
    assert "good parts are kept only as a sample" in screen.image_note.text()
    assert screen.image_view.notice.isVisible()


def test_records_export_needs_the_right_and_writes_the_filter_as_csv(qtbot, records_screen, recorded_station):
    screen = records_screen
    screen.presets["last_7_days"].setChecked(True)
    qtbot.mouseClick(screen.export_button, Qt.MouseButton.LeftButton)
    assert screen.export is None
    assert "log in" in screen.ctx.channel.history[-1].text.lower()

    olga = recorded_station.users.authenticate("olga", PIN["olga"])  # an operator may not export
    screen.ctx.session.log_in(olga)
    qtbot.mouseClick(screen.export_button, Qt.MouseButton.LeftButton)
    assert screen.export is None

    admin = recorded_station.users.authenticate("admin", PIN["admin"])
    screen.ctx.session.log_in(admin)
    qtbot.mouseClick(screen.verdict_buttons[Verdict.NG], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(screen.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.export is None and screen.export_button.isEnabled(), timeout=10000)
    files = list((recorded_station.data_dir / "exports").glob("records_*.csv"))
    assert len(files) == 1 and not list(files[0].parent.glob("*.part"))
    with open(files[0], encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == RECORD_COLUMNS
    seqs = [int(r[0]) for r in rows[1:]]
    assert seqs == stored_seqs(recorded_station, "WHERE verdict = 'NG' AND seq <= ?", (seqs[0],))
    at = rows[1][RECORD_COLUMNS.index("captured_at")]
    assert at.endswith("Z") and at[10] == "T"
    assert f"{len(seqs)} parts exported to" in screen.ctx.channel.history[-1].text


def test_records_every_touch_target_is_big_enough(qtbot, records_screen, recorded_station):
    screen = records_screen
    qtbot.mouseClick(screen.presets["range"], Qt.MouseButton.LeftButton)
    screen.search()
    wait_listed(qtbot, screen)
    assert screen.table.rowCount() > 0
    assert [(t.what, t.width, t.height) for t in undersized(screen, screen.ctx.touch)] == []
    screen.open_part(recorded_station.reviewed_seq)
    qtbot.waitUntil(lambda: screen.detail is not None, timeout=10000)
    assert [(t.what, t.width, t.height) for t in undersized(screen, screen.ctx.touch)] == []


def test_records_screenshot_is_filled_synchronously(qtbot, records_screen):
    screen = records_screen
    screen.prepare_screenshot()
    assert screen.table.rowCount() > 0 and screen.stack.currentIndex() == 0
    assert screen.page_label.text().startswith("Parts 1–")
