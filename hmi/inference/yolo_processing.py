"""Ultralytics' own pre- and post-processing in NumPy, so an imported export judges as the engineer validated it.

Each step follows Ultralytics 8.4's predictor: the letterbox (aspect kept, INTER_LINEAR, grey 114, padding
split as it rounds it), the NMS (best class per anchor, confidence strictly above the floor, class-aware IoU
suppression, at most max_det), boxes back to the frame (per-axis gains, clipped), instance masks (prototype
logits upsampled bilinearly to the input, > 0, then cropped to the box at input resolution) and the classifier's
resize of the shorter side (bilinear, antialiased like PIL) then centre crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LETTERBOX_GREY = 114
MAX_WH = 7680  # Ultralytics' class offset for class-aware NMS
MAX_NMS = 30000


@dataclass(frozen=True)
class Letterbox:
    """Where the frame lies in the model input: its resized size and top-left padding."""

    frame_w: int
    frame_h: int
    new_w: int
    new_h: int
    left: int
    top: int


def letterbox(frame: np.ndarray, width: int, height: int) -> tuple[np.ndarray, Letterbox]:
    """The frame resized keeping its aspect ratio (INTER_LINEAR) and centred on grey, as Ultralytics' LetterBox."""
    h, w = frame.shape[:2]
    r = min(height / h, width / w)
    nw, nh = max(round(w * r), 1), max(round(h * r), 1)
    img = frame if (nw, nh) == (w, h) else cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = round((height - nh) / 2 - 0.1), round((width - nw) / 2 - 0.1)
    out = np.full((height, width) + frame.shape[2:], LETTERBOX_GREY, np.uint8)
    out[top:top + nh, left:left + nw] = img
    return out, Letterbox(w, h, nw, nh, left, top)


def boxes_to_frame(xyxy: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Boxes (x1, y1, x2, y2) from input pixels to frame pixels, clipped to the frame (Ultralytics' scale_boxes)."""
    out = xyxy.astype(np.float32).copy()
    out[:, [0, 2]] = np.clip((out[:, [0, 2]] - lb.left) / (lb.new_w / lb.frame_w), 0, lb.frame_w)
    out[:, [1, 3]] = np.clip((out[:, [1, 3]] - lb.top) / (lb.new_h / lb.frame_h), 0, lb.frame_h)
    return out


def nms(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS, best first: a box goes when its IoU with a kept one is above `iou`."""
    x1, y1, x2, y2 = xyxy.T
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter + 1e-12) <= iou]
    return np.asarray(keep, int)


@dataclass(frozen=True)
class Detections:
    """Kept detections in input pixels: boxes (x1, y1, x2, y2), confidence, class, extra values (mask coefficients)."""

    xyxy: np.ndarray
    conf: np.ndarray
    cls: np.ndarray
    extra: np.ndarray


def decode(pred: np.ndarray, n_classes: int, *, end2end: bool, conf: float, iou: float, max_det: int,
           agnostic: bool = False) -> Detections:
    """Detections from output0: anchors [1, 4 + nc + extra, N] through NMS, or end-to-end rows [1, K, 6 + extra]."""
    if end2end:
        p = pred.reshape(pred.shape[-2], pred.shape[-1])
        p = p[p[:, 4] > conf][:max_det]
        return Detections(p[:, :4], p[:, 4], p[:, 5].astype(int), p[:, 6:])
    p = pred.reshape(pred.shape[-2], pred.shape[-1]).T
    scores = p[:, 4:4 + n_classes]
    above = scores.max(1) > conf
    p, scores = p[above], scores[above]
    cls = scores.argmax(1)
    best = scores[np.arange(len(p)), cls]
    if len(p) > MAX_NMS:
        top = np.argsort(-best, kind="stable")[:MAX_NMS]
        p, cls, best = p[top], cls[top], best[top]
    cx, cy, w, h = p[:, 0], p[:, 1], p[:, 2], p[:, 3]
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32)
    offset = (0.0 if agnostic else float(MAX_WH)) * cls[:, None].astype(np.float32)
    keep = nms(xyxy + offset, best, iou)[:max_det]
    return Detections(xyxy[keep], best[keep], cls[keep], p[keep, 4 + n_classes:])


def instance_masks(coeffs: np.ndarray, protos: np.ndarray, xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Binary masks [n, height, width] at input resolution: logits upsampled bilinearly, > 0, cropped to each box."""
    c, mh, mw = protos.shape[-3:]
    logits = (coeffs @ protos.reshape(c, -1)).reshape(-1, mh, mw).astype(np.float32)
    cols = np.arange(width, dtype=np.float32)[None, :]
    rows = np.arange(height, dtype=np.float32)[:, None]
    out = np.zeros((len(logits), height, width), np.uint8)
    for i, (m, (x1, y1, x2, y2)) in enumerate(zip(logits, xyxy)):
        up = cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) > 0.0
        out[i] = up & (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)
    return out


def mask_to_frame(mask: np.ndarray, lb: Letterbox) -> np.ndarray:
    """An input-resolution mask on the frame: padding cut off, bilinear resize, > 0.5 (Ultralytics' scale_masks)."""
    inner = mask[lb.top:lb.top + lb.new_h, lb.left:lb.left + lb.new_w].astype(np.float32)
    return (cv2.resize(inner, (lb.frame_w, lb.frame_h), interpolation=cv2.INTER_LINEAR) > 0.5).astype(np.uint8)


def resize_centre_crop(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Ultralytics' classifier input: shorter side resized to the input (bilinear, antialiased), centre crop.

    A non-square input is stretched to it, as torchvision's Resize((h, w)) does.
    """
    from PIL import Image

    h, w = frame.shape[:2]
    if width != height:
        size = (width, height)
    elif w <= h:
        size = (width, int(width * h / w))
    else:
        size = (int(height * w / h), height)
    img = frame
    if size != (w, h):
        img = np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))
    top, left = int(round((img.shape[0] - height) / 2.0)), int(round((img.shape[1] - width) / 2.0))
    return np.ascontiguousarray(img[top:top + height, left:left + width])
