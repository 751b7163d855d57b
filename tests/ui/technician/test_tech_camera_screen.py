"""Camera and lighting screen on a running station whose camera is pylon's emulated Basler camera."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from hmi.config.loader import load_recipe
from hmi.core.alarm_catalogue import LIGHTING_DRIFT
from hmi.store.audit import AuditAction
from hmi.ui.screens.camera import CameraScreen
from hmi.ui.touch import undersized
from tests.support.stations import PIN
from tests.ui.technician.conftest import audit_rows, read_node, show_screen, sign_by_taps, wait_for_parts

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def running(emulated_station, screen_context, qtbot):
    """A started emulated-camera station on flat grey frames and the camera screen on it (theo logged in)."""
    station = emulated_station(["ok"] * 4)
    station.start()
    wait_for_parts(qtbot, station, 3)
    screen = show_screen(qtbot, CameraScreen(screen_context(station)))
    qtbot.waitUntil(lambda: screen.settings is not None, timeout=5000)
    return station, screen


def type_into(qtbot, field, text: str) -> None:
    field.selectAll()
    field.clear()
    qtbot.keyClicks(field, text)


def test_tech_camera_exposure_and_gain_from_the_screen_are_in_the_camera_nodes(running, qtbot):
    station, screen = running
    assert read_node(station, "ExposureTime") == pytest.approx(5000.0)
    type_into(qtbot, screen.exposure.field, "2345")
    type_into(qtbot, screen.gain.field, "6.5")
    qtbot.mouseClick(screen.write, LEFT)
    # The setup screen's policy: a camera write is signed (reason and PIN) before anything reaches the camera.
    assert screen.right.currentWidget() is screen.signature
    assert read_node(station, "ExposureTime") == pytest.approx(5000.0)
    sign_by_taps(qtbot, screen.signature, PIN["theo"])
    qtbot.waitUntil(lambda: "2345 µs" in screen.readback.text(), timeout=5000)
    # Read from the emulated camera's GenICam nodes on the capture thread, not from the screen.
    assert read_node(station, "ExposureTime") == pytest.approx(2345.0)
    assert read_node(station, "Gain") == pytest.approx(6.5, abs=1e-3)
    assert "6.50 dB" in screen.readback.text()
    recipe = load_recipe(station.data_dir, "ui-test")
    assert (recipe.exposure_us, recipe.gain_db) == (pytest.approx(2345.0), pytest.approx(6.5, abs=1e-3))
    # The frames after the change carry the settings in force.
    qtbot.waitUntil(lambda: station.newest.peek()[1].camera.exposure_us == pytest.approx(2345.0), timeout=5000)
    qtbot.waitUntil(lambda: bool(audit_rows(station, AuditAction.CAMERA_CHANGE.value)), timeout=5000)
    user, _subject, old, new, reason = audit_rows(station, AuditAction.CAMERA_CHANGE.value)[-1]
    assert user == "theo" and json.loads(new)["exposure_us"] == pytest.approx(2345.0)
    assert reason.startswith(screen.signature.reason_buttons[0].text())
    assert any(r[0] == "theo" for r in audit_rows(station, AuditAction.SIGNATURE.value))


def test_tech_camera_write_with_a_wrong_pin_changes_nothing(running, qtbot):
    station, screen = running
    type_into(qtbot, screen.exposure.field, "3000")
    qtbot.mouseClick(screen.write, LEFT)
    sign_by_taps(qtbot, screen.signature, "9999")
    qtbot.waitUntil(lambda: screen.signature.feedback.text().startswith("✖"), timeout=5000)
    assert screen.right.currentWidget() is screen.signature   # refused: the panel says why and stays
    assert read_node(station, "ExposureTime") == pytest.approx(5000.0)
    assert load_recipe(station.data_dir, "ui-test").exposure_us is None
    assert audit_rows(station, AuditAction.CAMERA_CHANGE.value) == []


@pytest.mark.expected_errors("gain 60 dB is outside the range")
def test_tech_camera_plus_and_minus_step_the_fields_and_a_range_error_is_plain(running, qtbot):
    station, screen = running
    qtbot.mouseClick(screen.exposure.plus, LEFT)
    assert screen.exposure.value() == pytest.approx(6250.0)
    qtbot.mouseClick(screen.gain.plus, LEFT)
    qtbot.mouseClick(screen.gain.plus, LEFT)
    qtbot.mouseClick(screen.gain.minus, LEFT)
    assert screen.gain.value() == pytest.approx(1.0)
    type_into(qtbot, screen.gain.field, "60")
    errors = []
    screen.ctx.channel.posted.connect(errors.append)
    qtbot.mouseClick(screen.write, LEFT)
    sign_by_taps(qtbot, screen.signature, PIN["theo"])
    qtbot.waitUntil(lambda: any("outside the range" in m.what for m in errors), timeout=5000)
    message = next(m for m in errors if "outside the range" in m.what)
    assert "0 to 48 dB" in message.what and "enter a gain between" in message.todo
    qtbot.waitUntil(lambda: screen.write.isEnabled(), timeout=5000)
    assert read_node(station, "Gain") == pytest.approx(0.0, abs=1e-3)     # nothing written


def test_tech_camera_an_operator_cannot_change_the_camera(emulated_station, screen_context, qtbot):
    station = emulated_station(["ok"] * 2)
    station.start()
    screen = show_screen(qtbot, CameraScreen(screen_context(station, user="olga")))
    qtbot.waitUntil(lambda: screen.settings is not None, timeout=5000)
    messages = []
    screen.ctx.channel.posted.connect(messages.append)
    type_into(qtbot, screen.exposure.field, "1000")
    qtbot.mouseClick(screen.write, LEFT)
    assert messages and messages[-1].what == "Only a technician can change camera settings"
    assert read_node(station, "ExposureTime") == pytest.approx(5000.0)


def test_tech_camera_checks_of_the_live_image(emulated_station, screen_context, qtbot):
    # Flat 128 with a white square in every frame: the screen checks a frame about every 0.3 s (its 10 Hz
    # timer, at most every 0.25 s), which a repeating mix of frames at 40 Hz can lock onto (12 frames apart).
    station = emulated_station(["ng"])
    station.start()
    screen = show_screen(qtbot, CameraScreen(screen_context(station)))
    qtbot.waitUntil(lambda: screen.quality is not None and screen.quality.bright_pct > 0, timeout=10000)
    q = screen.quality
    assert q.bright_pct == pytest.approx(100 * 96 * 96 / 384 ** 2)   # the 96 x 96 square at 255
    assert screen.figures["Clipped white"].text().startswith("⚠")    # 6 % clipped: marked, not only coloured
    assert q.focus > 0 and screen.uniformity.cells_beyond() >= 1
    assert "Part" in screen.caption.text() and "5000 µs" in screen.caption.text()
    assert undersized(screen, screen.ctx.touch) == []


def test_tech_camera_auto_exposure_on_the_emulator_finds_the_image_does_not_follow(running, qtbot):
    """pylon's emulator replays its image files unchanged at any exposure: the controller must say so."""
    station, screen = running
    type_into(qtbot, screen.target.field, "60")
    qtbot.mouseClick(screen.auto, LEFT)
    sign_by_taps(qtbot, screen.signature, PIN["theo"])
    qtbot.waitUntil(lambda: screen.auto.text() == "Stop auto exposure" or screen.auto_result is not None,
                    timeout=5000)
    qtbot.waitUntil(lambda: screen.auto_result is not None, timeout=20000)
    result = screen.auto_result
    assert not result.converged and "does not follow the exposure" in result.problem
    assert [round(s.exposure_us) for s in result.steps][:2] == [5000, 2344]   # 5000 x (60/128), as the camera took it
    assert all(s.mean == pytest.approx(128.0) for s in result.steps)
    assert read_node(station, "ExposureTime") == pytest.approx(5000.0)        # set back where it was
    assert load_recipe(station.data_dir, "ui-test").exposure_us is None       # and not kept in the recipe
    assert screen.auto.text() == "Auto exposure" and "does not follow" in screen.auto_status.text()


def dim_the_lamp(station, folder: Path, grey: int) -> None:
    """The lamp ages: the emulated camera is switched (on the capture thread) to frames of another brightness."""
    from pypylon import pylon

    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((384, 384), grey, np.uint8))

    def swap(source) -> None:
        camera = source._camera
        camera.StopGrabbing()
        camera.GetNodeMap().GetNode("ImageFilename").Value = str(folder)
        camera.StartGrabbing(pylon.GrabStrategy_OneByOne)

    station.capture.call(swap)


def test_tech_camera_lighting_reference_is_saved_and_the_drift_alarm_follows(running, qtbot, tmp_path):
    station, screen = running
    assert "None saved" in screen.reference.text()
    qtbot.mouseClick(screen.save_reference, LEFT)
    qtbot.waitUntil(lambda: station.recipe.lighting.mean > 0, timeout=5000)
    recipe = load_recipe(station.data_dir, "ui-test")
    assert recipe.lighting.mean == pytest.approx(128.0)
    # the monitor compares with the reference each part carries: the next part judged brings it
    qtbot.waitUntil(lambda: station.lighting_monitor.reference == pytest.approx(128.0), timeout=5000)
    qtbot.waitUntil(lambda: "Reference mean 128.0" in screen.reference.text(), timeout=3000)
    wait_for_parts(qtbot, station, 30)
    assert LIGHTING_DRIFT.code not in {a.code for a in station.alarms.snapshot() if a.active}
    qtbot.waitUntil(lambda: bool(audit_rows(station, AuditAction.LIGHTING_REFERENCE.value)), timeout=5000)
    assert audit_rows(station, AuditAction.LIGHTING_REFERENCE.value)[-1][0] == "theo"

    dim_the_lamp(station, tmp_path / "dim", 96)        # 25 % darker, limit 15 %
    qtbot.waitUntil(lambda: LIGHTING_DRIFT.code in {a.code for a in station.alarms.snapshot() if a.active},
                    timeout=15000)

    def drift_words() -> str:
        return next((a.message for a in station.alarms.snapshot() if a.code == LIGHTING_DRIFT.code and a.active), "")

    # The monitor smooths over its last five samples: the words settle on the full drift.
    qtbot.waitUntil(lambda: "-25 %" in drift_words(), timeout=15000)
    assert "reference 128" in drift_words() and "check the lamps" in drift_words()
    qtbot.waitUntil(lambda: "beyond the limit" in screen.reference.text(), timeout=5000)
    assert screen.reference.text().count("⚠") == 1
    shutil.rmtree(tmp_path / "dim", ignore_errors=True)
