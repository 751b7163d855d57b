"""The Basler adapter against pylon's own camera emulation (PYLON_CAMEMU)."""

from __future__ import annotations

import time
from datetime import timezone

import numpy as np
import pytest

from hmi.camera.pylon import EMULATOR_SERIAL, PylonCamera
from hmi.camera.source import FrameRoi, TriggerMode
from hmi.core.errors import CameraError, CameraLost
from tests.support.waiting import wait_for


@pytest.fixture
def camera(frames_dir):
    """The emulated demo camera on the test frames, software-triggered, opened and closed around the test."""
    folder, _ = frames_dir
    cam = PylonCamera.emulated(folder, exposure_us=2500.0, gain_db=3.0)
    cam.open()
    yield cam
    cam.close()


def test_camera_emulated_replays_the_folder_in_name_order(camera, frames_dir):
    _, frames = frames_dir
    grabs = [camera.grab(1.0) for _ in range(len(frames) + 2)]   # one loop and two more
    for k, grab in enumerate(grabs):
        assert grab is not None and grab.error is None
        assert grab.image.dtype == np.uint8 and grab.image.flags.c_contiguous
        assert np.array_equal(grab.image, frames[k % len(frames)]), f"grab {k} is not {k % len(frames)}"
        assert grab.frame_id == k + 1
        assert grab.captured_at.tzinfo == timezone.utc
    monos = [g.captured_mono for g in grabs]
    assert monos == sorted(monos) and monos[0] <= time.monotonic()
    assert grabs[0].settings.source == f"Basler Emulation {EMULATOR_SERIAL}"
    assert (grabs[0].settings.width, grabs[0].settings.height) == (384, 384)


def test_camera_emulated_settings_are_read_back_from_the_nodes(camera):
    opened = camera.settings()
    assert opened.exposure_us == pytest.approx(2500.0)
    assert opened.gain_db == pytest.approx(3.0, abs=1e-3)
    assert camera.set_exposure(1234.0) == pytest.approx(1234.0)
    assert camera.set_gain(6.5) == pytest.approx(6.5, abs=1e-3)
    now = camera.settings()
    assert (now.exposure_us, round(now.gain_db, 3)) == (pytest.approx(1234.0), 6.5)
    assert camera.grab(1.0).settings == now      # frames carry the settings in force


def test_camera_emulated_refuses_values_outside_the_node_range(camera):
    with pytest.raises(CameraError, match=r"gain 60 dB is outside the range .*\(0 to 48 dB\)"):
        camera.set_gain(60.0)
    with pytest.raises(CameraError, match="exposure time"):
        camera.set_exposure(50e6)
    assert camera.settings().gain_db == pytest.approx(3.0, abs=1e-3)   # unchanged


def test_camera_emulated_software_trigger_gives_one_frame_per_grab(frames_dir):
    folder, frames = frames_dir
    cam = PylonCamera.emulated(folder, trigger=TriggerMode.SOFTWARE)
    cam.open()
    try:
        # Not a wait for the camera: an idle spell in which a free-running camera would queue frames.
        time.sleep(0.2)
        grabs = [cam.grab(1.0) for _ in range(6)]
        counters = cam.buffer_counters()
    finally:
        cam.close()
    assert [np.array_equal(g.image, frames[k % 4]) for k, g in enumerate(grabs)] == [True] * 6
    assert counters["total"] == 6 and counters["failed"] == 0    # the camera exposed only when triggered


def test_camera_emulated_frame_roi_crops_the_images(frames_dir):
    folder, frames = frames_dir
    cam = PylonCamera.emulated(folder, roi=FrameRoi(x=16, y=32, width=200, height=100))
    cam.open()
    try:
        grab = cam.grab(1.0)
        assert (cam.settings().width, cam.settings().height) == (200, 100)
    finally:
        cam.close()
    assert np.array_equal(grab.image, frames[0][32:132, 16:216])


def test_camera_emulated_refuses_a_roi_outside_the_images(frames_dir):
    folder, _ = frames_dir
    cam = PylonCamera.emulated(folder, roi=FrameRoi(x=300, y=0, width=200, height=100))
    with pytest.raises(CameraError, match="does not fit the 384x384 sensor"):
        cam.open()
    assert not cam.is_open


def test_camera_emulated_failed_buffer_is_an_error_never_an_image(camera, frames_dir):
    _, frames = frames_dir
    assert camera.grab(1.0).error is None
    camera.inject_failed_buffers(2)
    failed = [camera.grab(1.0), camera.grab(1.0)]
    for grab in failed:
        assert grab.image is None
        assert grab.error.startswith("camera buffer failed: ") and "(code 0x" in grab.error
    after = camera.grab(1.0)
    assert camera.buffer_counters()["failed"] == 2
    # Failed buffers use up their images: the emulator goes on with the fourth file.
    assert after.error is None and np.array_equal(after.image, frames[3])
    assert [g.frame_id for g in failed + [after]] == [2, 3, 4]


def test_camera_emulated_removal_raises_lost_and_reconnect_brings_it_back(camera, frames_dir, monkeypatch):
    camera.set_exposure(3333.0)
    camera.simulate_removal()
    with pytest.raises(CameraLost, match="was disconnected — check the camera's cable"):
        camera.grab(1.0)
    # Unplugged: pylon no longer lists emulated cameras.
    monkeypatch.setenv("PYLON_CAMEMU", "0")
    assert camera.reconnect() is False
    with pytest.raises(CameraLost):
        camera.grab(0.1)
    monkeypatch.setenv("PYLON_CAMEMU", "1")
    assert camera.reconnect() is True
    assert camera.settings().exposure_us == pytest.approx(3333.0)   # the technician's change survives
    grab = camera.grab(1.0)
    assert grab.error is None and np.array_equal(grab.image, frames_dir[1][0])


def test_camera_emulated_missing_folder_is_refused_in_plain_words(tmp_path):
    cam = PylonCamera.emulated(tmp_path / "nowhere")
    with pytest.raises(CameraError, match=r"demo image folder .*nowhere does not exist — reinstall"):
        cam.open()


def test_camera_emulated_refuses_a_folder_with_a_stray_file(frames_dir):
    folder, _ = frames_dir
    (folder / "notes.txt").write_text("shift notes")
    with pytest.raises(CameraError, match="notes.txt .* is not a PNG, BMP, JPEG or TIFF image"):
        PylonCamera.emulated(folder).open()


def test_camera_emulated_free_run_and_hardware_trigger(frames_dir):
    folder, _ = frames_dir
    free = PylonCamera.emulated(folder, trigger=TriggerMode.FREE_RUN, rate_hz=50.0)
    free.open()
    try:
        grabs = [free.grab(1.0) for _ in range(3)]
    finally:
        free.close()
    assert all(g.error is None and g.image.shape == (384, 384) for g in grabs)
    hardware = PylonCamera.emulated(folder, trigger=TriggerMode.HARDWARE)
    hardware.open()
    try:
        start = time.monotonic()
        assert hardware.grab(0.2) is None          # no signal on Line1: no part passed
        assert time.monotonic() - start >= 0.19   # it waited its timeout: a lower bound, never broken by a slow machine
    finally:
        hardware.close()


def test_camera_pylon_kind_never_picks_the_emulator_unless_named():
    real = PylonCamera()
    try:
        real.open()
    except CameraError as exc:
        assert str(exc).startswith("no Basler camera found — check the camera's power and cable")
    else:   # a machine with a real camera attached
        assert "Emulation" not in real.name
    finally:
        real.close()
    named = PylonCamera(EMULATOR_SERIAL, trigger=TriggerMode.SOFTWARE, roi=FrameRoi(width=640, height=480))
    named.open()
    try:
        grab = named.grab(1.0)
    finally:
        named.close()
    assert grab.error is None and grab.image.shape == (480, 640)


def test_camera_emulated_late_frame_is_reported_then_discarded(camera, frames_dir):
    _, frames = frames_dir
    late = None
    for _ in range(20):                 # None: camera not ready for a trigger within 4 ms, nothing sent
        late = camera.grab(0.004)       # pylon's emulator takes about 11 ms from trigger to frame
        if late is not None:
            break
    assert late.image is None and late.error == "camera sent no image within 4 ms of the software trigger"
    wait_for(lambda: camera.buffer_counters()["total"] == 1, "the late frame (first file) to arrive", 5.0)
    next_part = camera.grab(1.0)
    assert next_part.error is None and np.array_equal(next_part.image, frames[1])
