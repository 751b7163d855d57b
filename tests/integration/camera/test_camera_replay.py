"""Replay of image folders and video files as a frame source."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from hmi.camera.replay import ReplaySource
from hmi.camera.source import FrameRoi, TriggerMode
from hmi.core.errors import CameraError


def _grab_all(source: ReplaySource, count: int, timeout_s: float = 1.0) -> list:
    return [source.grab(timeout_s) for _ in range(count)]


def test_camera_replay_folder_in_name_order_looping(frames_dir):
    folder, frames = frames_dir
    source = ReplaySource(folder)
    source.open()
    grabs = _grab_all(source, 6)
    source.close()
    for k, grab in enumerate(grabs):
        assert grab.error is None and grab.frame_id == k + 1
        assert grab.image.dtype == np.uint8 and grab.image.flags.c_contiguous
        assert np.array_equal(grab.image, frames[k % 4])
    assert grabs[0].settings.source == "replay frames"
    assert (grabs[0].settings.width, grabs[0].settings.height) == (384, 384)


def test_camera_replay_converts_colour_and_formats_to_mono8(tmp_path, make_frames):
    folder = tmp_path / "mixed"
    grey = make_frames(folder, ["a.png"])["a.png"]
    cv2.imwrite(str(folder / "b.bmp"), grey)
    cv2.imwrite(str(folder / "c.tif"), grey)
    cv2.imwrite(str(folder / "d.png"), cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    cv2.imwrite(str(folder / "e.png"), grey.astype(np.uint16) * 257)      # 16-bit
    (folder / "readme.txt").write_text("not an image; ignored by the replay")
    source = ReplaySource(folder)
    source.open()
    grabs = _grab_all(source, 5)
    source.close()
    for grab in grabs:
        assert grab.error is None and grab.image.dtype == np.uint8 and grab.image.ndim == 2
        assert np.abs(grab.image.astype(int) - grey).max() <= 1


def test_camera_replay_corrupt_file_is_an_error_grab_and_replay_goes_on(frames_dir):
    folder, frames = frames_dir
    (folder / "part_b.png").write_bytes(b"\x89PNG damaged in transfer")
    source = ReplaySource(folder)
    source.open()
    grabs = _grab_all(source, 4)
    source.close()
    assert grabs[1].image is None
    assert grabs[1].error == "image part_b.png cannot be read (corrupt or not an image) — replace the file; it was skipped"
    assert np.array_equal(grabs[2].image, frames[2])


def test_camera_replay_video_loops(tmp_path):
    path = tmp_path / "line.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    levels = [30, 90, 150, 210]
    for level in levels:
        writer.write(np.full((120, 160, 3), level, np.uint8))
    writer.release()
    source = ReplaySource(path, trigger=TriggerMode.SOFTWARE)
    source.open()
    grabs = _grab_all(source, 6)
    source.close()
    assert all(g.error is None and g.image.shape == (120, 160) and g.image.dtype == np.uint8 for g in grabs)
    means = [float(g.image.mean()) for g in grabs]
    assert means == pytest.approx([30, 90, 150, 210, 30, 90], abs=3)   # MJPG is lossy


def test_camera_replay_free_run_is_paced_at_rate_and_software_trigger_is_not(frames_dir):
    folder, _ = frames_dir
    free = ReplaySource(folder, trigger=TriggerMode.FREE_RUN, rate_hz=20.0)
    free.open()
    start = time.monotonic()
    grabs = _grab_all(free, 4)
    elapsed = time.monotonic() - start
    early = free.grab(0.01)         # next frame due in 50 ms: nothing within 10 ms
    free.close()
    assert all(g is not None for g in grabs)
    assert elapsed >= 3 / 20.0 - 0.005   # paced: a lower bound, which a slow machine cannot break
    assert early is None
    triggered = ReplaySource(folder, trigger=TriggerMode.SOFTWARE, rate_hz=2.0)
    triggered.open()
    grabs = _grab_all(triggered, 4, timeout_s=0.0)
    triggered.close()
    # One frame per trigger, at once (none is refused for want of time to wait); the capture thread paces triggers.
    assert all(g is not None and g.error is None for g in grabs)


def test_camera_replay_roi_crops(frames_dir):
    folder, frames = frames_dir
    source = ReplaySource(folder, roi=FrameRoi(x=10, y=20, width=64, height=32))
    source.open()
    grab = source.grab(1.0)
    settings = source.settings()
    source.close()
    assert np.array_equal(grab.image, frames[0][20:52, 10:74])
    assert (settings.width, settings.height) == (64, 32)


@pytest.mark.parametrize(("setup", "message"), [
    ("missing", r"replay path .*nowhere does not exist — check camera.replay_path"),
    ("empty", r"replay folder .*empty holds no images \(png, bmp, jpg, jpeg, tif, tiff\) — copy images"),
    ("bad_video", r"video clip.avi cannot be opened or holds no frames — check the file plays"),
])
def test_camera_replay_open_errors_in_plain_words(tmp_path, setup, message):
    if setup == "missing":
        path = tmp_path / "nowhere"
    elif setup == "empty":
        path = tmp_path / "empty"
        path.mkdir()
        (path / "notes.txt").write_text("no images here")
    else:
        path = tmp_path / "clip.avi"
        path.write_bytes(b"RIFF not really a video")
    with pytest.raises(CameraError, match=message):
        ReplaySource(path).open()


def test_camera_replay_grab_before_open_is_refused(frames_dir):
    with pytest.raises(CameraError, match="is not open"):
        ReplaySource(frames_dir[0]).grab(0.1)
