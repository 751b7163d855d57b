"""Pixels for the screens (NumPy and OpenCV only): grey LUT, heatmap index image and its colours, thumbnails.

The heatmap scale is fixed per threshold: 0 at the bottom, the region threshold exactly in the
middle (index 128), twice the threshold at the top. Up to 0.8 x the threshold the overlay is
transparent (normal variation), then a faint blue ramp (close to the threshold); at or above the
threshold, red (a defect region).
"""

from __future__ import annotations

import cv2
import numpy as np

LEVELS = (0, 255)
THRESHOLD_INDEX = 128
HEAT_SCALE_TOP = 2.0  # the top of the colour scale, in multiples of the threshold
NEAR_FROM = 0.8       # scores under this share of the threshold are not coloured at all
MAX_OVERLAY_EDGE = 768  # the heatmap is upsampled to at most this many pixels a side, then stretched

BELOW_RGB = (40, 110, 215)
ABOVE_RGB = (225, 20, 20)


def grey_lut() -> np.ndarray:
    """256 x 3 uint8 identity grey table: the camera's Mono8 values shown as they are."""
    ramp = np.arange(256, dtype=np.uint8)
    return np.ascontiguousarray(np.stack([ramp, ramp, ramp], axis=1))


def heat_lut() -> np.ndarray:
    """256 x 4 uint8 RGBA table for the heatmap index image (see the module docstring)."""
    lut = np.zeros((256, 4), np.uint8)
    idx = np.arange(256)
    below = idx < THRESHOLD_INDEX
    lut[below, :3] = BELOW_RGB
    # Transparent under NEAR_FROM x the threshold, so a good part's surface stays readable; then a faint
    # blue that deepens towards the threshold (close to a defect, not one).
    start = THRESHOLD_INDEX * NEAR_FROM
    ramp = np.clip((idx[below] - start) / (THRESHOLD_INDEX - start), 0.0, 1.0)
    lut[below, 3] = (ramp * 120).astype(np.uint8)
    lut[~below, :3] = ABOVE_RGB
    lut[~below, 3] = np.linspace(170, 220, int((~below).sum())).astype(np.uint8)
    return lut


def score_at_index(index: float, threshold: float) -> float:
    """The anomaly score that colour-scale index `index` stands for."""
    return index / 256.0 * HEAT_SCALE_TOP * threshold


def overlay_shape(frame_shape: tuple[int, ...]) -> tuple[int, int]:
    """Height, width at which to render the overlay for a frame (capped, aspect kept)."""
    h, w = int(frame_shape[0]), int(frame_shape[1])
    k = min(1.0, MAX_OVERLAY_EDGE / max(h, w))
    return max(1, round(h * k)), max(1, round(w * k))


def heat_index(anomaly_map: np.ndarray, threshold: float, frame_shape: tuple[int, ...]) -> np.ndarray:
    """The model-resolution map upsampled (bilinear) and quantised to 0..255 on the fixed scale, C-contiguous."""
    if threshold <= 0:
        raise ValueError("the heatmap needs a positive region threshold")
    h, w = overlay_shape(frame_shape)
    m = np.asarray(anomaly_map, np.float32)
    while m.ndim > 2:
        m = m[0]
    up = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
    scaled = up * np.float32(256.0 / (HEAT_SCALE_TOP * threshold))
    return np.ascontiguousarray(np.clip(scaled, 0, 255).astype(np.uint8))


def display_frame(image: np.ndarray) -> np.ndarray:
    """The frame as C-contiguous uint8, HxW (Mono8) or HxWx3 (RGB), as the image view's fast path wants."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(float(img.max()), 1.0))
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img)


def thumbnail(image: np.ndarray, edge: int) -> np.ndarray:
    """A small copy whose longer side is `edge` pixels (area interpolation), C-contiguous uint8."""
    img = display_frame(image)
    h, w = img.shape[:2]
    k = edge / max(h, w)
    size = (max(1, round(w * k)), max(1, round(h * k)))
    return np.ascontiguousarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA))
