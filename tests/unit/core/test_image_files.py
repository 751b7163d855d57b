"""Image files read safely: a pipe, a header that claims absurd pixels or a damaged file is one plain ImageError."""

from __future__ import annotations

import os
import struct
import zlib

import cv2
import numpy as np
import pytest

from hmi.core.errors import ImageError
from hmi.core.image_files import MAX_IMAGE_PIXELS, decode_image, header_size, read_frame, read_image_bytes
from hmi.inference.teach_images import read_part_images


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (the data is a few bytes of zeros)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tif"])
def test_the_header_size_is_read_without_decoding(tmp_path, ext):
    path = tmp_path / f"a{ext}"
    cv2.imwrite(str(path), np.zeros((37, 53, 3), np.uint8))
    assert header_size(path.read_bytes()) == (53, 37)


def test_a_png_that_claims_ten_billion_pixels_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png(100_000, 100_000))
    assert len(path.read_bytes()) < 100 and 100_000 * 100_000 > MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match="claims 100000 x 100000 pixels"):
        read_frame(path)
    images = read_part_images([path])  # teaching skips it with the reason, it does not crash
    assert images.images == [] and "100000 x 100000" in images.skipped[0][1]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_called_png_is_refused_at_once_not_read_for_ever(tmp_path):
    fifo = tmp_path / "frame.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="not an image file"):
        read_image_bytes(fifo)


def test_damaged_and_empty_files_are_plain_errors(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    with pytest.raises(ImageError, match="is empty"):
        read_frame(tmp_path / "empty.png")
    with pytest.raises(ImageError, match="corrupt or not an image"):
        decode_image((tmp_path / "junk.png").read_bytes(), "junk.png")
    with pytest.raises(ImageError, match="does not exist"):
        read_frame(tmp_path / "missing.png")
