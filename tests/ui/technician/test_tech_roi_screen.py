"""Inspection-area editor on a running station with pylon's emulated camera: draw, sign, and judge by it."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from hmi.config.loader import load_recipe
from hmi.config.schema import InspectionRoi
from hmi.core.verdict import Verdict
from hmi.store.audit import AuditAction
from hmi.ui.screens.roi import POLYGON, SELECT, RoiScreen, area_words, clip_rectangle, outside_overlay
from hmi.ui.touch import undersized
from tests.ui.conftest import PIN
from tests.ui.technician.conftest import audit_rows, show_screen, wait_for_parts

LEFT = Qt.MouseButton.LeftButton
NG_SPOT = (48, 192, 96, 96)          # where tests.ui.conftest puts the white square of an 'ng' frame


def widget_point(view, x: float, y: float):
    """Where frame pixel (x, y) is on the drawing view's viewport."""
    return view.mapFromScene(view.box.mapViewToScene(QPointF(x, y)))


def drag(view, a: tuple[float, float], b: tuple[float, float]) -> None:
    port = view.viewport()
    QTest.mousePress(port, LEFT, Qt.KeyboardModifier.NoModifier, widget_point(view, *a))
    for k in (0.25, 0.5, 0.75, 1.0):
        QTest.mouseMove(port, widget_point(view, a[0] + k * (b[0] - a[0]), a[1] + k * (b[1] - a[1])))
    QTest.mouseRelease(port, LEFT, Qt.KeyboardModifier.NoModifier, widget_point(view, *b))


def tap(view, x: float, y: float) -> None:
    QTest.mouseClick(view.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, widget_point(view, x, y))


def sign(qtbot, panel, reason: str, pin: str) -> None:
    panel.reason.setText(reason)
    for digit in pin:
        qtbot.mouseClick(panel.keys[digit], LEFT)
    qtbot.mouseClick(panel.sign, LEFT)


@pytest.fixture
def running(emulated_station, screen_context, qtbot):
    """A started station alternating good and defective ('ng') parts, and the ROI screen on it (theo)."""
    station = emulated_station(["ok", "ng"])
    station.start()
    wait_for_parts(qtbot, station, 4)
    screen = show_screen(qtbot, RoiScreen(screen_context(station)))
    qtbot.waitUntil(lambda: screen.view.shape is not None, timeout=15000)
    return station, screen


def verdicts_after(qtbot, station, seq: int, count: int) -> dict[int, Verdict]:
    """Automatic verdicts of the next `count` parts after `seq`, by sequence number."""
    qtbot.waitUntil(lambda: len([p for p in station.outlet.recent() if p.seq > seq]) >= count, timeout=10000)
    return {p.seq: p.verdict for p in station.outlet.recent() if p.seq > seq}


def test_tech_roi_drawn_on_the_screen_is_saved_signed_and_the_next_part_honours_it(running, qtbot):
    station, screen = running
    before = {p.verdict for p in station.outlet.recent()}
    assert Verdict.NG in before                           # the white square rejects with the recipe's ROI
    qtbot.mouseClick(screen.clear, LEFT)
    assert screen.view.roi() == InspectionRoi() and screen.apply.isEnabled()
    drag(screen.view, (200, 16), (368, 368))              # right part of the image only: the defect is left outside
    drawn = screen.view.roi()
    assert len(drawn.rectangles) == 1
    x, y, w, h = drawn.rectangles[0]
    assert abs(x - 200) <= 2 and abs(y - 16) <= 2 and abs(x + w - 368) <= 2 and abs(y + h - 368) <= 2
    assert screen.view.shade.isVisible() and "Not applied yet" in screen.summary.text()

    qtbot.mouseClick(screen.apply, LEFT)
    assert screen.side.currentWidget() is screen.signature
    sign(qtbot, screen.signature, "fixture moved to the right", PIN["theo"])
    qtbot.waitUntil(lambda: station.recipe.roi == drawn, timeout=10000)
    qtbot.waitUntil(lambda: screen.side.currentWidget() is screen.tools_box, timeout=5000)
    assert "In force" in screen.summary.text()

    # Saved in the recipe file, audited with reason and signer.
    assert load_recipe(station.data_dir, "ui-test").roi == drawn
    qtbot.waitUntil(lambda: bool(audit_rows(station, AuditAction.ROI_CHANGE.value)), timeout=5000)
    user, subject, old, new, reason = audit_rows(station, AuditAction.ROI_CHANGE.value)[-1]
    assert (user, subject, reason) == ("theo", "recipe ui-test", "fixture moved to the right")
    assert json.loads(new)["rectangles"] == [list(r) for r in drawn.rectangles]
    assert json.loads(old)["rectangles"] == [[16, 16, 352, 352]]

    # The next parts: the defect lies outside the area and no longer rejects.
    applied_at = max(p.seq for p in station.outlet.recent())
    after = verdicts_after(qtbot, station, applied_at + 1, 6)    # one part may have been in flight
    ng_parts = [p for p in station.outlet.recent() if p.seq > applied_at + 1 and p.image is not None
                and p.image[240, 96] == 255]
    assert ng_parts and all(p.verdict is Verdict.OK for p in ng_parts)
    assert set(after.values()) == {Verdict.OK}


def test_tech_roi_the_live_view_draws_the_area_in_force(running, qtbot):
    from hmi.ui.screens.live import LiveScreen

    station, screen = running
    live = LiveScreen(screen.ctx.touch)
    qtbot.addWidget(live)
    version, part = station.newest.peek()
    live.draw(version, part, 0.3, station.recipe.roi)
    outline = live.view.roi_outline.path().boundingRect()
    assert (outline.x(), outline.y(), outline.width(), outline.height()) == (16, 16, 352, 352)


def test_tech_roi_polygon_by_taps_then_select_and_delete(running, qtbot):
    station, screen = running
    qtbot.mouseClick(screen.clear, LEFT)
    qtbot.mouseClick(screen.tools[POLYGON], LEFT)
    corners = [(40, 40), (300, 60), (320, 320), (60, 300)]
    for x, y in corners:
        tap(screen.view, x, y)
    assert len(screen.view.points) == 4 and screen.view.roi().polygons == []
    tap(screen.view, 41, 41)                                 # the first corner again closes it
    roi = screen.view.roi()
    assert len(roi.polygons) == 1 and screen.view.points == []
    assert all(abs(a - b) <= 2 for (px, py), (cx, cy) in zip(roi.polygons[0], corners, strict=True)
               for a, b in ((px, cx), (py, cy)))
    assert "polygon" in screen.summary.text() and "% of the image" in screen.summary.text()

    qtbot.mouseClick(screen.tools[SELECT], LEFT)
    tap(screen.view, 370, 370)                               # beside the polygon: nothing selected
    assert screen.view.selected is None and not screen.delete.isEnabled()
    tap(screen.view, 180, 180)                               # inside it
    assert screen.view.selected is screen.view.polys[0] and screen.delete.isEnabled()
    qtbot.mouseClick(screen.delete, LEFT)
    assert screen.view.roi() == InspectionRoi()
    qtbot.mouseClick(screen.revert, LEFT)
    assert screen.view.roi() == station.recipe.roi


def test_tech_roi_a_wrong_pin_changes_nothing_and_says_why(running, qtbot):
    station, screen = running
    drag(screen.view, (200, 200), (300, 300))
    qtbot.mouseClick(screen.apply, LEFT)
    sign(qtbot, screen.signature, "second area", "0000")
    qtbot.waitUntil(lambda: screen.signature.feedback.text().startswith("✖"), timeout=10000)
    assert screen.signature.sign.isEnabled() and screen.signature.pin == ""
    assert load_recipe(station.data_dir, "ui-test").roi.rectangles == [(16, 16, 352, 352)]
    assert station.recipe.roi.rectangles == [(16, 16, 352, 352)]
    qtbot.mouseClick(screen.signature.cancel, LEFT)
    assert screen.side.currentWidget() is screen.tools_box and "Not applied yet" in screen.summary.text()


def test_tech_roi_touch_targets_and_an_operator_is_refused(emulated_station, screen_context, qtbot):
    station = emulated_station(["ok"])
    station.start()
    screen = show_screen(qtbot, RoiScreen(screen_context(station, user="olga")))
    # The window ticks the screen twice a second; here the test does, until the first image is drawn.
    qtbot.waitUntil(lambda: screen.on_tick() or screen.view.shape is not None, timeout=15000)
    assert undersized(screen, screen.ctx.touch) == []
    messages = []
    screen.ctx.channel.posted.connect(messages.append)
    drag(screen.view, (10, 10), (100, 100))
    qtbot.mouseClick(screen.apply, LEFT)
    assert messages and messages[-1].what == "Only a technician can change the region of interest"
    assert screen.side.currentWidget() is screen.tools_box


def test_tech_roi_geometry_helpers():
    assert clip_rectangle(300, 50, -20, 10, 256, 128) == (0, 10, 256, 40)
    assert clip_rectangle(5, 5, 7, 30, 100, 100) is None                  # a tap, not a rectangle
    roi = InspectionRoi(rectangles=[(0, 0, 50, 100)], polygons=[[(50, 0), (100, 0), (100, 50)]])
    assert area_words(roi, (100, 100)).endswith("63 % of the image is inspected.")   # the edges count
    shade = outside_overlay(roi, (100, 100))
    assert shade.shape == (100, 100, 4) and shade[10, 10, 3] == 0 and shade[90, 90, 3] > 0
    assert outside_overlay(InspectionRoi(), (100, 100)) is None
