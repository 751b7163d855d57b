"""Issue 15 item 5: every reader of image files gives the same 8-bit frame, one limit, and never blocks or crashes.

Real files throughout: a 74-byte PNG claiming 100000 x 100000 pixels, 16-bit PNG and TIFF files, named pipes
and folders called *.png; the readers are the replay camera, pylon's emulated camera (also in its Mono12
and Mono16 pixel formats), the camera of `hmi inspect` (ImageFilesSource) and teaching's reader.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from hmi.camera.factory import open_source, uncompressed_copy
from hmi.camera.pylon import PylonCamera
from hmi.camera.replay import ImageFilesSource, ReplaySource
from hmi.config.loader import load_station
from hmi.core.errors import CameraError, ImageError
from hmi.core.image_files import list_images, read_frame, to_8bit
from hmi.inference.teach_images import read_part_images

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims width x height grey pixels (its data is a few bytes of zeros)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def deep_frame(width: int = 96, height: int = 64) -> np.ndarray:
    """A 16-bit grey gradient using the whole range (dark corner to bright corner, every high byte present)."""
    yy, xx = np.mgrid[0:height, 0:width]
    return ((xx * 677 + yy * 331) % 65536).astype(np.uint16)


def grab_image(source) -> np.ndarray:
    """Open `source`, take one frame, close it; the frame must have come without error."""
    source.open()
    try:
        grab = source.grab(2.0)
    finally:
        source.close()
    assert grab is not None and grab.error is None, grab
    return grab.image


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_16_bit_file_is_the_same_8_bit_frame_for_replay_inspect_teach_and_the_emulated_camera(tmp_path, suffix):
    deep = deep_frame()
    folder = tmp_path / "frames"
    folder.mkdir()
    path = folder / f"deep{suffix}"
    assert cv2.imwrite(str(path), deep) and cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    expected = (deep >> 8).astype(np.uint8)   # the upper 8 bits: never stretched by the image's own brightest pixel

    replayed = grab_image(ReplaySource(folder))
    inspected = grab_image(ImageFilesSource([path]))
    taught = read_part_images([path]).images[0]
    emulated = grab_image(PylonCamera.emulated(uncompressed_copy(folder, cache_root=tmp_path / "cache")))
    assert np.array_equal(replayed, expected)
    assert np.array_equal(inspected, expected)
    assert np.array_equal(taught, cv2.cvtColor(expected, cv2.COLOR_GRAY2RGB))   # teach works in RGB
    assert np.array_equal(emulated, expected)


def test_a_dim_16_bit_image_is_not_stretched_so_the_same_defect_scores_the_same(tmp_path):
    dim = np.full((32, 32), 4000, np.uint16)
    dim[8:16, 8:16] = 8000                      # a spot twice as bright as the part
    bright = dim.copy()
    bright[0, 0] = 65535                        # one hot pixel elsewhere: a stretch would darken everything
    for name, image in (("dim.png", dim), ("bright.png", bright)):
        cv2.imwrite(str(tmp_path / name), image)
    a, b = read_frame(tmp_path / "dim.png"), read_frame(tmp_path / "bright.png")
    assert a[10, 10] == b[10, 10] == 8000 >> 8 and a[20, 20] == b[20, 20] == 4000 >> 8


@pytest.mark.parametrize(("pixel_format", "bits"), [("Mono8", 8), ("Mono12", 12), ("Mono16", 16)])
def test_the_camera_gives_the_same_frame_in_its_deeper_pixel_formats(tmp_path, pixel_format, bits):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "deep.png"), deep_frame())
    camera = PylonCamera.emulated(uncompressed_copy(folder, cache_root=tmp_path / "cache"), pixel_format=pixel_format)
    assert np.array_equal(grab_image(camera), (deep_frame() >> 8).astype(np.uint8))
    # The conversion the camera adapter uses for MonoN frames: shifted by the format's own bit depth.
    assert to_8bit(np.array([[4095, 2048]], np.uint16), "", 12).tolist() == [[255, 128]]
    assert bits == 8 or to_8bit(np.array([[(1 << bits) - 1]], np.uint16), "", bits).tolist() == [[255]]


def test_float_images_are_refused_with_one_message_by_every_reader(tmp_path):
    path = tmp_path / "float.tif"
    assert cv2.imwrite(str(path), np.full((32, 32), 0.5, np.float32))
    with pytest.raises(ImageError, match=r"floating-point pixels \(float32\); the station judges 8-bit images"):
        read_frame(path)
    grab = ImageFilesSource([path])
    grab.open()
    assert "floating-point pixels" in grab.grab(0.1).error
    assert "floating-point pixels" in read_part_images([path]).skipped[0][1]
    with pytest.raises(CameraError, match="none of the 1 images"):
        ReplaySource(path).open()


def test_a_png_claiming_ten_billion_pixels_is_refused_by_every_reader_and_the_replay_goes_on(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a_bomb.png").write_bytes(bomb_png())
    assert len((folder / "a_bomb.png").read_bytes()) < 100
    cv2.imwrite(str(folder / "b_good.png"), np.full((48, 48), 90, np.uint8))

    replay = ReplaySource(folder)
    replay.open()                                   # the first readable file sets the frame size
    grabs = [replay.grab(1.0) for _ in range(4)]    # bomb, good, bomb, good: the replay loops on
    replay.close()
    assert [g.image is None for g in grabs] == [True, False, True, False]
    assert "claims 100000 x 100000 pixels, more than the 150 megapixels" in grabs[0].error
    assert "camera.max_image_megapixels" in grabs[0].error
    files = ImageFilesSource([folder / "a_bomb.png"])
    files.open()
    assert "claims 100000 x 100000 pixels" in files.grab(0.1).error
    assert "100000 x 100000" in read_part_images([folder / "a_bomb.png"]).skipped[0][1]
    # The emulated camera's copy is made by the same reader: it refuses the folder, naming the file.
    with pytest.raises(CameraError, match="a_bomb.png claims 100000 x 100000 pixels"):
        PylonCamera.emulated(uncompressed_copy(folder, cache_root=tmp_path / "cache")).open()


def test_the_pixel_limit_comes_from_station_toml_for_every_camera_kind(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_small.png"), np.full((20, 20), 90, np.uint8))     # 400 pixels
    cv2.imwrite(str(folder / "b_large.png"), np.full((40, 40), 90, np.uint8))     # 1600 pixels
    data = tmp_path / "data"
    load_station(data)
    toml = data / "station.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("max_image_megapixels = 150.0",
                                                             "max_image_megapixels = 0.001"), encoding="utf-8")
    cfg = load_station(data, ["camera.kind=replay", f"camera.replay_path={folder}"])
    assert cfg.camera.max_image_megapixels == 0.001
    replay = open_source(cfg.camera, folder)
    replay.open()
    small, large = replay.grab(1.0), replay.grab(1.0)
    replay.close()
    assert small.error is None and "claims 40 x 40 pixels, more than the 0.001 megapixels" in large.error
    cfg = load_station(data, ["camera.kind=emulated", f"camera.replay_path={folder}"])
    with pytest.raises(CameraError, match="b_large.png claims 40 x 40 pixels"):
        open_source(cfg.camera, folder).open()
    assert "claims 40 x 40" in read_part_images([folder / "b_large.png"], limit=1000).skipped[0][1]


@needs_fifo
def test_pipes_and_folders_named_png_are_skipped_with_a_reason_never_opened(tmp_path, caplog):
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((48, 48), 90, np.uint8))
    os.mkfifo(folder / "b.png")                  # opening it would wait for a writer for ever
    (folder / "c.png").mkdir()
    (folder / "d.png").symlink_to(folder / "gone.png")
    listing = list_images(folder)
    assert listing.files == [folder / "a.png"]
    assert dict((p.name, why) for p, why in listing.skipped) == {
        "b.png": "a named pipe, not an image file", "c.png": "a folder, not an image file",
        "d.png": "a link to nothing"}

    replay = ReplaySource(folder)
    with caplog.at_level("WARNING"):
        replay.open()
    assert [replay.grab(1.0).error for _ in range(2)] == [None, None]     # only a.png, looping
    replay.close()
    assert "b.png skipped: a named pipe, not an image file" in caplog.text
    # Named one by one (as `hmi inspect a.png b.png` does), each is a frame with its reason, at once.
    files = ImageFilesSource([folder / "b.png", folder / "c.png"])
    files.open()
    assert ["is not an image file (it is a named pipe)" in files.grab(0.1).error,
            "is not an image file (it is a folder)" in files.grab(0.1).error] == [True, True]
    skipped = dict((p.name, why) for p, why in read_part_images([folder / "a.png", folder / "b.png"]).skipped)
    assert skipped == {"b.png": "is not an image file (it is a named pipe)"}
    with pytest.raises(CameraError, match="is a named pipe, not a folder, image or video file"):
        ReplaySource(folder / "b.png").open()
