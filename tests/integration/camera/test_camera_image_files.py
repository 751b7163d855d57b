"""The camera of `hmi inspect`: a list of image files, each grabbed once, in order, as the files hold them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hmi.camera.replay import ImageFilesSource, read_frame
from hmi.core.errors import CameraError, ImageError


def test_each_file_once_in_the_given_order_and_none_after_the_last(tmp_path):
    a, b = np.full((32, 40), 10, np.uint8), np.full((20, 24), 200, np.uint8)
    cv2.imwrite(str(tmp_path / "b.png"), b)
    cv2.imwrite(str(tmp_path / "a.png"), a)
    source = ImageFilesSource([tmp_path / "b.png", tmp_path / "a.png"])  # not sorted: the order given
    with pytest.raises(CameraError, match="not open"):
        source.grab(0.1)
    source.open()
    first, second, after = source.grab(0.1), source.grab(0.1), source.grab(0.01)
    assert (first.frame_id, second.frame_id, after) == (1, 2, None)
    assert np.array_equal(first.image, b) and np.array_equal(second.image, a)
    assert (first.settings.width, first.settings.height) == (24, 20)  # each frame's own size
    assert source.delivered == 2
    source.close()


def test_an_unreadable_file_is_a_failed_grab_in_its_place_never_an_exception(tmp_path):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), np.full((32, 32), 128, np.uint8))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    source = ImageFilesSource([broken, tmp_path / "missing.png", good])
    source.open()  # nothing is read yet: opening never fails
    grabs = [source.grab(0.1) for _ in range(3)]
    assert [g.frame_id for g in grabs] == [1, 2, 3]
    assert grabs[0].image is None and "broken.png cannot be read (corrupt or not an image)" in grabs[0].error
    assert grabs[1].image is None and "missing.png does not exist" in grabs[1].error
    assert grabs[2].error is None and grabs[2].image.shape == (32, 32)


def test_files_are_read_as_the_camera_would_deliver_them_colour_kept(tmp_path):
    bgr = np.zeros((20, 30, 3), np.uint8)
    bgr[:, :, 0] = 255  # blue in OpenCV's order
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    cv2.imwrite(str(tmp_path / "d.png"), np.full((20, 30), 1000, np.uint16))
    colour, deep = read_frame(tmp_path / "c.png"), read_frame(tmp_path / "d.png")
    assert colour.shape == (20, 30, 3) and colour[0, 0].tolist() == [0, 0, 255]  # RGB, as the model is taught
    assert deep.dtype == np.uint8 and int(deep.max()) == 1000 >> 8  # upper 8 bits, never stretched per image
    with pytest.raises(ImageError, match="does not exist"):
        read_frame(tmp_path / "none.png")


def test_a_recipes_exposure_is_no_fault_for_files(tmp_path):
    source = ImageFilesSource([])
    assert source.set_exposure(5000.0) == 5000.0 and source.set_gain(3.0) == 3.0
    assert source.settings().exposure_us == 0.0  # a file records no exposure
