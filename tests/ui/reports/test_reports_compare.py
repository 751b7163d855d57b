"""Reports side by side: shifts of different lengths, older and newer in time order, and a failure that changes nothing."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from hmi.config.schema import ShiftDefinition, ShiftsConfig
from hmi.ui.messages import Level
from tests.ui.reports.test_reports_screen import _pick

UNEVEN = ShiftsConfig(shifts=[ShiftDefinition(name="Early", start="06:00", end="14:00"),
                              ShiftDefinition(name="Late", start="14:00", end="23:00"),   # 9 hours
                              ShiftDefinition(name="Night", start="23:00", end="06:00")])  # 7 hours


def _tap(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def test_shift_before_of_another_length_is_shown_whole_and_newer_minus_older(qtbot, reports_screen):
    screen, _ctx = reports_screen(settings={"shifts": UNEVEN})
    _pick(qtbot, screen, "2026-03-04", "Night")
    _tap(qtbot, screen.compare_buttons["shift before"])
    qtbot.waitUntil(lambda: screen.loaded.other is not None and not screen.loading, timeout=20000)
    night, late = screen.loaded.main, screen.loaded.other
    assert late.window.key == "2026-03-04 Late" and len(late.hourly) == 9 and len(night.hourly) == 7
    assert screen.title.text().startswith("Night 2026-03-04")
    assert screen.figure_labels["Parts"][1].text() == f"{night.parts:,}"   # figures and charts of the same shift
    assert len(screen.hourly.parts.getPlotItem().getAxis("bottom")._tickLevels[0]) == 9

    heads = [screen.compare_table.horizontalHeaderItem(c).text() for c in range(4)]
    assert heads == ["Figure", "Older", "Newer", "Newer − older"]
    rows = {screen.compare_table.item(r, 0).text(): [screen.compare_table.item(r, c).text() for c in (1, 2, 3)]
            for r in range(screen.compare_table.rowCount())}
    assert rows["Parts"] == [f"{late.parts:,}", f"{night.parts:,}", f"{night.parts - late.parts:+,} parts"]
    assert "older: Late 2026-03-04" in screen.compare_title.text()


@pytest.mark.expected_errors("^This report could not be shown")
def test_a_report_that_cannot_be_shown_leaves_the_one_on_screen_whole(qtbot, reports_screen, monkeypatch):
    import hmi.ui.screens.reports as reports

    screen, ctx = reports_screen()
    _pick(qtbot, screen, "2026-03-03", "Early")
    shown = (screen.title.text(), screen.figure_labels["Parts"][1].text(), screen.operators.item(0, 0).text())

    def broken(*_args):
        raise ValueError("operands could not be broadcast together with shapes (8,) (9,)")

    monkeypatch.setattr(reports, "compare_reports", broken)
    _tap(qtbot, screen.compare_buttons["shift before"])
    qtbot.waitUntil(lambda: not screen.loading and "could not be shown" in screen.status.text(), timeout=20000)
    assert (screen.title.text(), screen.figure_labels["Parts"][1].text(), screen.operators.item(0, 0).text()) == shown
    assert screen.loaded.other is None and screen.compare_table.isHidden()
    message = ctx.channel.history[-1]
    assert message.level is Level.ERROR and message.what.startswith("This report could not be shown")
    assert "ValueError" not in message.text and "broadcast" not in message.text


def test_export_goes_to_the_target_chosen_on_the_screen(qtbot, reports_screen, tmp_path):
    from hmi.config.schema import ExportTargetConfig, ReportsConfig

    share = tmp_path / "quality-share"
    share.mkdir()
    gone = tmp_path / "not-mounted"
    targets = ReportsConfig(export_targets=[ExportTargetConfig(name="Quality share", path=str(share)),
                                            ExportTargetConfig(name="Lab share", path=str(gone))], removable_media=[])
    screen, ctx = reports_screen(settings={"reports": targets})
    qtbot.waitUntil(lambda: len(screen.target_buttons) == 3, timeout=5000)  # listed on the report thread
    assert list(screen.target_buttons) == ["Station disk", "Quality share", "Lab share"]
    assert screen.target_buttons["Station disk"].isChecked()
    _pick(qtbot, screen, "2026-03-03", "Night")

    _tap(qtbot, screen.target_buttons["Quality share"])
    _tap(qtbot, screen.export_pdf)
    qtbot.waitUntil(lambda: (share / "shift_2026-03-03_Night.pdf").exists(), timeout=20000)
    qtbot.waitUntil(lambda: any(str(share) in m.what for m in ctx.channel.history), timeout=5000)

    _tap(qtbot, screen.target_buttons["Lab share"])
    _tap(qtbot, screen.export_csv)
    qtbot.waitUntil(lambda: "Lab share" in ctx.channel.history[-1].what, timeout=5000)  # found on the report thread
    message = ctx.channel.history[-1]
    assert message.what == f"Lab share cannot be reached at {gone}" and "mounted" in message.todo
    assert not gone.exists()
