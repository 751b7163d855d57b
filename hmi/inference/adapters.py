"""Models users bring: anomalib, Ultralytics YOLO (detect / segment) and plain classification ONNX exports.

Each adapter turns one frame into (score, regions, map) on the scale the manifest's ThresholdSet uses,
so the decision policy judges every kind the same way. Detectors and classifiers score a part by the
highest confidence among *defect* classes: every class except one named good / ok / normal / pass.
"""

from __future__ import annotations

import cv2
import numpy as np

from hmi.core.errors import ModelError
from hmi.core.part import DefectRegion
from hmi.inference.backend import Session
from hmi.inference.package import Manifest, ModelPackage
from hmi.inference.processing import find_regions, map_to_frame, to_model_input

GOOD_CLASS_NAMES = frozenset({"good", "ok", "normal", "pass", "no_defect", "background"})
LETTERBOX_GREY = 114  # Ultralytics pads with this grey


def is_defect_class(name: str) -> bool:
    """True unless the class names a good part (good, ok, normal, pass, no_defect, background)."""
    return name.strip().lower() not in GOOD_CLASS_NAMES


def _extra_float(m: Manifest, key: str, default: float) -> float:
    value = m.extra.get(key, default)
    return float(value) if isinstance(value, (int, float, str)) and str(value) != "" else default


class ModelAdapter:
    """Base of the adapters: the session, the manifest and the output names they read."""

    def __init__(self, package: ModelPackage, session: Session, roles: tuple[str, ...]) -> None:
        m = package.manifest
        missing_roles = [r for r in roles if r not in m.outputs]
        if missing_roles:
            raise ModelError(f"model '{m.name}' ({m.kind}) manifest does not name its {', '.join(missing_roles)} output",
                             "re-import the model with 'hmi model import'")
        missing = {m.outputs[r] for r in roles} - set(session.output_names)
        if missing or m.input.name not in session.input_names:
            raise ModelError(f"model '{m.name}': the ONNX graph lacks {sorted(missing) or [m.input.name]}",
                             "the manifest does not match the ONNX file; re-import it with 'hmi model import'")
        self.manifest = m
        self.session = session
        self.output_names = [m.outputs[r] for r in roles]

    def _run(self, x: np.ndarray) -> list[np.ndarray]:
        out = self.session.run({self.manifest.input.name: x}, self.output_names)
        return [np.asarray(out[n], np.float32) for n in self.output_names]

    def judge(self, frame: np.ndarray, mask: np.ndarray | None, min_region_px: int
              ) -> tuple[float, tuple[DefectRegion, ...], np.ndarray | None]:
        """(score, regions in frame pixels, map at model resolution or None) for one checked frame."""
        raise NotImplementedError


def anomalib_normalise(values: np.ndarray, threshold: float, vmin: float, vmax: float) -> np.ndarray:
    """anomalib's min-max normalisation: threshold maps to 0.5, [min, max] spans 1, clipped to [0, 1]."""
    span = vmax - vmin if vmax > vmin else 1.0
    return np.clip((values - threshold) / span + 0.5, 0.0, 1.0).astype(np.float32)


class AnomalibAdapter(ModelAdapter):
    """anomalib ONNX export: image score and anomaly map, normalised so 0.5 is anomalib's own threshold."""

    def __init__(self, package: ModelPackage, session: Session) -> None:
        super().__init__(package, session, ("score", "anomaly_map"))
        m = self.manifest
        # "normalised" = the export has anomalib's post-processor inside (anomalib 2): values are already 0..1.
        self.prenormalised = str(m.extra.get("normalisation", "")) == "in-graph"
        self.image_threshold = _extra_float(m, "image_threshold", 0.5)
        self.pixel_threshold = _extra_float(m, "pixel_threshold", self.image_threshold)
        self.vmin = _extra_float(m, "min", 0.0)
        self.vmax = _extra_float(m, "max", 1.0)

    def judge(self, frame, mask, min_region_px):
        """Normalised image score; regions where the normalised map reaches the region threshold (0.5)."""
        score_raw, amap = self._run(to_model_input(frame, self.manifest.input))
        score_raw = score_raw.reshape(-1)
        while amap.ndim > 2:
            amap = amap[0]
        if score_raw.size < 1:
            raise ModelError(f"model '{self.manifest.name}' returned no image score", "re-import the model")
        if self.prenormalised:
            score, amap = float(score_raw[0]), amap.astype(np.float32)
        else:
            score = float(anomalib_normalise(score_raw[:1], self.image_threshold, self.vmin, self.vmax)[0])
            amap = anomalib_normalise(amap, self.pixel_threshold, self.vmin, self.vmax)
        h, w = frame.shape[:2]
        full = map_to_frame(amap, (h, w))
        if mask is not None:
            full = np.where(mask > 0, full, 0.0).astype(np.float32)
            score = float(full.max())
        threshold = self.manifest.region_threshold if self.manifest.region_threshold is not None else 0.5
        return score, find_regions(full, threshold, mask, min_region_px), amap


def letterbox(frame: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float, int, int]:
    """Resize keeping the aspect ratio and pad with grey, as Ultralytics does; returns (image, ratio, pad_x, pad_y)."""
    h, w = frame.shape[:2]
    r = min(width / w, height / h)
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)
    px, py = (width - nw) // 2, (height - nh) // 2
    shape = (height, width) + resized.shape[2:]
    out = np.full(shape, LETTERBOX_GREY, np.uint8)
    out[py:py + nh, px:px + nw] = resized
    return out, r, px, py


class YoloDetectAdapter(ModelAdapter):
    """Ultralytics YOLO detection export: boxes (cx, cy, w, h) and class scores per anchor, NMS here."""

    roles: tuple[str, ...] = ("boxes",)

    def __init__(self, package: ModelPackage, session: Session) -> None:
        super().__init__(package, session, self.roles)
        m = self.manifest
        self.names = list(m.class_names)
        self.defect = np.array([is_defect_class(n) for n in self.names], bool)
        floor = _extra_float(m, "min_confidence", 0.25)
        self.class_floor = np.array([m.class_thresholds.get(n, floor) for n in self.names], np.float32)
        self.iou = _extra_float(m, "nms_iou", 0.45)

    def _candidates(self, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Kept detections after the class floors and per-class NMS: boxes xywh (input px), conf, class, anchor index."""
        nc = len(self.names)
        p = pred.reshape(pred.shape[-2], pred.shape[-1]).T  # anchors x (4 + nc [+ 32])
        scores = p[:, 4:4 + nc]
        cls = scores.argmax(1)
        conf = scores[np.arange(len(p)), cls]
        keep = np.nonzero(conf >= self.class_floor[cls])[0]
        if keep.size == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int), keep
        cx, cy, bw, bh = p[keep, 0], p[keep, 1], p[keep, 2], p[keep, 3]
        xywh = np.stack([cx - bw / 2, cy - bh / 2, bw, bh], 1).astype(np.float32)
        # Class-aware NMS: shift each class far apart so boxes of different classes never suppress each other.
        shifted = xywh.copy()
        shifted[:, :2] += cls[keep, None].astype(np.float32) * 10_000.0
        idx = cv2.dnn.NMSBoxes(shifted.tolist(), conf[keep].tolist(), 0.0, self.iou)
        idx = np.asarray(idx, int).reshape(-1)
        return xywh[idx], conf[keep][idx], cls[keep][idx], keep[idx]

    def _to_frame(self, xywh: np.ndarray, r: float, px: int, py: int, shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
        h, w = shape
        boxes = []
        for x, y, bw, bh in xywh:
            x0 = int(np.clip(round((x - px) / r), 0, w - 1))
            y0 = int(np.clip(round((y - py) / r), 0, h - 1))
            x1 = int(np.clip(round((x + bw - px) / r), x0 + 1, w))
            y1 = int(np.clip(round((y + bh - py) / r), y0 + 1, h))
            boxes.append((x0, y0, x1 - x0, y1 - y0))
        return boxes

    @staticmethod
    def _inside(mask: np.ndarray | None, box: tuple[int, int, int, int]) -> bool:
        if mask is None:
            return True
        x, y, w, h = box
        return bool(mask[min(y + h // 2, mask.shape[0] - 1), min(x + w // 2, mask.shape[1] - 1)] > 0)

    def judge(self, frame, mask, min_region_px):
        """Score = highest defect-class confidence; one region per kept defect box (centre inside the ROI)."""
        spec = self.manifest.input
        img, r, px, py = letterbox(frame, spec.width, spec.height)
        outs = self._run(to_model_input(img, spec))
        xywh, conf, cls, _ = self._candidates(outs[0])
        regions = []
        for box, c, k in zip(self._to_frame(xywh, r, px, py, frame.shape[:2]), conf, cls):
            if self.defect[k] and self._inside(mask, box) and box[2] * box[3] >= min_region_px:
                x, y, w, h = box
                contour = ((x, y), (x + w - 1, y), (x + w - 1, y + h - 1), (x, y + h - 1))
                regions.append(DefectRegion(x, y, w, h, w * h, float(c), contour, self.names[k], float(c)))
        regions.sort(key=lambda d: d.confidence or 0.0, reverse=True)
        return max((d.peak_score for d in regions), default=0.0), tuple(regions), None


class YoloSegmentAdapter(YoloDetectAdapter):
    """Ultralytics YOLO segmentation export: detection plus 32 mask coefficients against prototype masks."""

    roles = ("boxes", "protos")

    def judge(self, frame, mask, min_region_px):
        """As detection, but each region is the instance mask's outline and pixel area inside its box."""
        spec = self.manifest.input
        img, r, px, py = letterbox(frame, spec.width, spec.height)
        pred, protos = self._run(to_model_input(img, spec))
        xywh, conf, cls, anchors = self._candidates(pred)
        nc = len(self.names)
        p = pred.reshape(pred.shape[-2], pred.shape[-1]).T
        proto = protos.reshape(protos.shape[-3], -1)  # 32 x (mh * mw)
        mh, mw = protos.shape[-2:]
        h, w = frame.shape[:2]
        regions = []
        for box_in, c, k, a in zip(xywh, conf, cls, anchors):
            if not self.defect[k]:
                continue
            coeffs = p[a, 4 + nc:4 + nc + proto.shape[0]]
            m_small = 1.0 / (1.0 + np.exp(-(coeffs @ proto).reshape(mh, mw)))
            m_in = cv2.resize(m_small.astype(np.float32), (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
            bx, by, bw, bh = box_in
            crop = np.zeros_like(m_in, dtype=bool)
            crop[max(int(by), 0):max(int(np.ceil(by + bh)), 0), max(int(bx), 0):max(int(np.ceil(bx + bw)), 0)] = True
            m_in = ((m_in >= 0.5) & crop).astype(np.uint8)
            # back from the letterboxed input to frame pixels
            nh_, nw_ = round(h * r), round(w * r)
            m_frame = cv2.resize(m_in[py:py + nh_, px:px + nw_], (w, h), interpolation=cv2.INTER_NEAREST)
            if mask is not None:
                m_frame &= (mask > 0).astype(np.uint8)
            area = int(m_frame.sum())
            if area < max(min_region_px, 1):
                continue
            contours, _ = cv2.findContours(m_frame, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            outline = max(contours, key=cv2.contourArea)
            x, y, bw_, bh_ = cv2.boundingRect(outline)
            approx = cv2.approxPolyDP(outline, 1.5, True).reshape(-1, 2)
            regions.append(DefectRegion(x, y, bw_, bh_, area, float(c), tuple((int(u), int(v)) for u, v in approx),
                                        self.names[k], float(c)))
        regions.sort(key=lambda d: d.confidence or 0.0, reverse=True)
        return max((d.peak_score for d in regions), default=0.0), tuple(regions), None


class ClassificationAdapter(ModelAdapter):
    """Plain classifier [1, classes]: score = highest defect-class probability (softmax unless already one)."""

    def __init__(self, package: ModelPackage, session: Session) -> None:
        super().__init__(package, session, ("probabilities",))
        m = self.manifest
        self.names = list(m.class_names)
        self.defect = np.array([is_defect_class(n) for n in self.names], bool)
        self.class_floor = {n: m.class_thresholds.get(n, 0.0) for n in self.names}

    def judge(self, frame, mask, min_region_px):
        """Whole-frame judgement; the top defect class at or above its class threshold becomes one region."""
        (logits,) = self._run(to_model_input(frame, self.manifest.input))
        v = logits.reshape(-1)[:len(self.names)].astype(np.float64)
        is_prob = v.min() >= 0.0 and abs(v.sum() - 1.0) < 1e-3
        probs = v if is_prob else np.exp(v - v.max()) / np.exp(v - v.max()).sum()
        if not self.defect.any():
            return 0.0, (), None
        defect_probs = np.where(self.defect, probs, -1.0)
        k = int(defect_probs.argmax())
        score = float(probs[k])
        h, w = frame.shape[:2]
        regions: tuple[DefectRegion, ...] = ()
        if score >= self.class_floor[self.names[k]] and score > 0.0:
            contour = ((0, 0), (w - 1, 0), (w - 1, h - 1), (0, h - 1))
            regions = (DefectRegion(0, 0, w, h, w * h, score, contour, self.names[k], score),)
        return score, regions, None


ADAPTERS: dict[str, type[ModelAdapter]] = {
    "anomalib": AnomalibAdapter,
    "yolo_detect": YoloDetectAdapter,
    "yolo_segment": YoloSegmentAdapter,
    "classification": ClassificationAdapter,
}


def adapter_for(package: ModelPackage, session: Session) -> ModelAdapter:
    """The adapter that runs this package's kind; ModelError for a kind no adapter handles."""
    kind = package.manifest.kind
    if kind not in ADAPTERS:
        raise ModelError(f"model '{package.manifest.name}' is of kind '{kind}', which has no adapter",
                         f"use one of: anomaly, {', '.join(ADAPTERS)}")
    return ADAPTERS[kind](package, session)
