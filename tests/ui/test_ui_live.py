"""The live view: newest part only, on pyqtgraph's fast path, with overlays that mean what the scale says."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import Qt

from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet, confidence_percent, confidence_text, defect_confidence
from hmi.ui import imaging, theme
from hmi.ui.strip import part_tile
from hmi.ui.symbols import verdict_rgba
from tests.support.waiting import wait_for


def test_ui_heatmap_scale_puts_the_threshold_in_the_middle():
    lut = imaging.heat_lut()
    assert lut.shape == (256, 4) and lut.dtype == np.uint8
    assert lut[0, 3] == 0                                   # no score: transparent
    assert tuple(lut[127, :3]) == imaging.BELOW_RGB and lut[127, 3] <= 120
    assert tuple(lut[128, :3]) == imaging.ABOVE_RGB and lut[128, 3] >= 170
    amap = np.array([[0.0, 0.1], [0.2, 0.4]], np.float32)
    idx = imaging.heat_index(amap, 0.2, (2, 2))
    assert idx.flags.c_contiguous and idx.dtype == np.uint8
    assert idx.tolist() == [[0, 64], [128, 255]]             # threshold 0.2 -> 128, twice it -> top
    assert imaging.score_at_index(128, 0.2) == 0.2
    big = imaging.heat_index(np.zeros((32, 32), np.float32), 0.2, (2048, 2448))
    assert big.shape == (643, imaging.MAX_OVERLAY_EDGE)          # capped, aspect kept (2048 x 2448 frame)


def test_ui_strip_tile_marks_the_verdict_by_symbol_and_rejects_by_a_red_frame(station_factory):
    station = station_factory(["ng", "ok"], rate_hz=30.0)
    station.start()
    wait_for(lambda: {p.verdict for p in station.outlet.recent()} >= {Verdict.OK, Verdict.NG}, "an OK and an NG part")
    recent = station.outlet.recent()
    ng = next(p for p in recent if p.verdict is Verdict.NG)
    ok = next(p for p in recent if p.verdict is Verdict.OK)
    ng_tile, ok_tile = part_tile(ng, 90), part_tile(ok, 90)
    mark = int(90 * 0.42)
    red = np.array(theme.rgb(theme.REJECT_RED), np.uint8)
    assert (ng_tile[-2, 45] == red).all() and not (ok_tile[-2, 45] == red).all()
    assert not np.array_equal(ng_tile[:mark, :mark], ok_tile[:mark, :mark])  # a different symbol in the corner
    assert verdict_rgba(Verdict.NG, mark).shape == (mark, mark, 4)


def test_ui_live_view_draws_only_the_newest_part(qtbot, station_factory, open_window):
    station = station_factory(["ok", "ng", "hold"], rate_hz=60.0)
    station.start()
    window = open_window(station)
    draws = []
    window.live.draw_listeners.append(lambda version, part, now: draws.append((version, station.newest.peek()[0])))
    qtbot.wait(1500)
    assert len(draws) >= 5
    versions = [v for v, _ in draws]
    assert versions == sorted(set(versions))               # each drawn once, in order
    newest_now = station.newest.peek()[0]
    assert len(draws) < newest_now                          # parts came faster than the screen: skipped, not queued
    assert all(newest - drawn <= 3 for drawn, newest in draws)  # what was drawn was the newest at the tick
    item = window.live.view.image_item
    assert item.image.dtype == np.uint8 and item.image.flags.c_contiguous
    assert tuple(item.levels) == imaging.LEVELS and item.lut.shape == (256, 3)


def test_ui_overlays_follow_the_toggles_and_name_the_defect_area(qtbot, station_factory, open_window):
    station = station_factory(["ng"], rate_hz=20.0)
    station.start()
    window = open_window(station)
    live = window.live
    qtbot.waitUntil(lambda: live.drawn_version > 0, timeout=5000)
    part = live.view.drawn_part
    assert part.verdict is Verdict.NG and part.inspection.regions
    region = part.inspection.regions[0]
    confidence = defect_confidence(part.inspection.score, ThresholdSet(1, 0.3, hold_below=0.05, hold_above=0.05))
    assert part.decision.confidence == confidence > 0.5    # the recipe's threshold set, as the worker judged it
    assert f"score {part.inspection.score:.3f}  ·  {confidence_text(confidence)}" in live.caption.text()
    assert live.badge.detail == f"Defect confidence {confidence_percent(confidence)}"  # under the verdict word
    assert live.view.heat_item.isVisible() and live.scale.isVisible()
    assert not live.view.contours.path().isEmpty()
    assert live.view.labels[0].toPlainText() == f"{region.area_px} px²"
    assert "≥ 0.350 = defect" in live.scale.caption()   # NG from: threshold 0.3 + band 0.05
    assert not live.view.roi_outline.path().isEmpty()

    for toggle in (live.toggle_heatmap, live.toggle_defects, live.toggle_roi):
        qtbot.mouseClick(toggle, Qt.MouseButton.LeftButton)
        assert toggle.text().endswith("OFF")
    assert not live.view.heat_item.isVisible() and not live.scale.isVisible()
    assert live.view.contours.path().isEmpty() and not live.view.labels[0].isVisible()
    assert live.view.roi_outline.path().isEmpty()

    qtbot.waitUntil(lambda: live.strip.buttons[0].isEnabled(), timeout=5000)
    qtbot.mouseClick(live.strip.buttons[0], Qt.MouseButton.LeftButton)
    assert window.current == "part"
    assert window.part.title.text() == f"Part {live.strip.parts[0].seq}"


def test_ui_a_part_without_image_says_why(qtbot):
    from hmi.core.part import CameraSettings, Decision, Part, utc_now
    from hmi.ui.part_view import PartImageView

    view = PartImageView()
    qtbot.addWidget(view)
    part = Part(seq=7, captured_at=utc_now(), captured_mono=time.monotonic(),
                camera=CameraSettings("camera 4711", 0.0, 0.0), recipe="demo",
                capture_error="camera lost: no image taken").decided(
        Decision(Verdict.NOT_INSPECTED, "camera lost: no image taken", 0, utc_now(), time.monotonic()))
    view.show_part(part, 0.3, None)
    assert view.notice.isVisible()
    assert view.notice.toPlainText() == "Part 7: no image\ncamera lost: no image taken"
    assert view.image_item.image is None and not view.heat_item.isVisible()
    tile = part_tile(part, 60)
    assert (tile[-1, 30] == np.array(theme.rgb(theme.REJECT_RED), np.uint8)).all()  # a reject, framed red


def test_ui_the_strip_holds_still_under_the_finger_and_opens_the_part_tapped(qtbot, station_factory, open_window):
    station = station_factory(["ng", "ok", "ok"], rate_hz=20.0)
    station.start()
    window = open_window(station)
    strip = window.live.strip
    qtbot.waitUntil(lambda: strip.buttons[1].isEnabled(), timeout=10000)

    qtbot.mousePress(strip.buttons[1], Qt.MouseButton.LeftButton)
    words = strip.buttons[1].text()                                   # the part under the finger: "<seq>  <verdict>"
    seq = int(words.split()[0])
    qtbot.waitUntil(lambda: station.outlet.recent()[-1].seq > seq + 3, timeout=10000)
    window.refresh_slow()                                             # the line moved on: the strip does not
    assert strip.buttons[1].text() == words
    qtbot.mouseRelease(strip.buttons[1], Qt.MouseButton.LeftButton)
    assert window.current == "part"
    assert window.part.title.text() == f"Part {seq}"

    window.show_screen("live")                                        # the finger is gone: the newest parts show

    def newest_shown() -> bool:
        window.refresh_slow()
        return strip.parts[0].seq > seq + 3

    qtbot.waitUntil(newest_shown, timeout=5000)


def test_ui_a_tap_just_after_a_tile_changed_opens_the_part_that_was_seen(qtbot, station_factory):
    from hmi.ui.strip import PartStrip
    from hmi.ui.touch import TouchSize

    station = station_factory(["ng", "ok"], rate_hz=30.0)
    station.start()
    recent = wait_for(lambda: len(station.outlet.recent()) >= 3 and station.outlet.recent(), "three parts")
    strip = PartStrip(TouchSize.of(station.cfg.ui))
    qtbot.addWidget(strip)
    strip.show()
    strip.aim_s = 60.0                      # any tap counts as "just after the change" (no clock in the test)
    strip.show_parts(recent[:-1])
    seen = strip.parts[0]
    strip.show_parts(recent)                # the newest part slides in as the finger comes down
    assert strip.parts[0] is recent[-1]
    with qtbot.waitSignal(strip.part_requested) as opened:
        qtbot.mouseClick(strip.buttons[0], Qt.MouseButton.LeftButton)
    assert opened.args == [seen]
    assert strip.buttons[0].text().startswith(f"{seen.seq}  ")        # and the tile shows it while pressed
