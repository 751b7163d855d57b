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
from hmi.inference.package import END2END, Manifest, ModelPackage
from hmi.inference.processing import find_regions, map_to_frame, to_model_input
from hmi.inference.yolo_processing import (Detections, Letterbox, boxes_to_frame, decode, instance_masks, letterbox,
                                           mask_to_frame, resize_centre_crop)

GOOD_CLASS_NAMES = frozenset({"good", "ok", "normal", "pass", "no_defect", "background"})
# Ultralytics' predictor defaults, used where the export recorded none.
ULTRALYTICS_CONF = 0.25
ULTRALYTICS_IOU = 0.7
ULTRALYTICS_MAX_DET = 300


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
        """The outputs for one image; a file whose batch is fixed at n gets the image n times, answers of the first."""
        batch = self.manifest.input.batch
        if batch > 1:
            x = np.ascontiguousarray(np.repeat(x, batch, axis=0))
        out = self.session.run({self.manifest.input.name: x}, self.output_names)
        values = [np.asarray(out[n], np.float32) for n in self.output_names]
        return [v[:1] if batch > 1 and v.ndim and v.shape[0] == batch else v for v in values]

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
        # anomalib 2 resizes inside the graph: frames go in at their own size, as anomalib's predictor feeds them.
        self.resize_in_graph = str(m.extra.get("resize", "")) == "in-graph"

    def judge(self, frame, mask, min_region_px):
        """Normalised image score; regions where the normalised map reaches the region threshold (0.5)."""
        spec = self.manifest.input
        if self.resize_in_graph:
            spec = spec.model_copy(update={"width": frame.shape[1], "height": frame.shape[0]})
        score_raw, amap = self._run(to_model_input(frame, spec))
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


class YoloDetectAdapter(ModelAdapter):
    """Ultralytics YOLO detection export: anchors through NMS here, or end-to-end rows (NMS inside or NMS-free)."""

    roles: tuple[str, ...] = ("boxes",)

    def __init__(self, package: ModelPackage, session: Session) -> None:
        super().__init__(package, session, self.roles)
        m = self.manifest
        self.names = list(m.class_names)
        self.defect = np.array([is_defect_class(n) for n in self.names], bool)
        self.floor = _extra_float(m, "min_confidence", ULTRALYTICS_CONF)
        self.class_floor = np.array([m.class_thresholds.get(n, self.floor) for n in self.names], np.float32)
        self.iou = _extra_float(m, "nms_iou", ULTRALYTICS_IOU)
        self.max_det = int(_extra_float(m, "max_det", ULTRALYTICS_MAX_DET))
        self.end2end = str(m.extra.get("output", "")) == END2END
        self.agnostic = str(m.extra.get("agnostic_nms", "no")) == "yes"

    def _detect(self, frame: np.ndarray) -> tuple[Detections, Letterbox, list[np.ndarray]]:
        spec = self.manifest.input
        img, lb = letterbox(frame, spec.width, spec.height)
        outs = self._run(to_model_input(img, spec))
        found = decode(outs[0], len(self.names), end2end=self.end2end, conf=self.floor, iou=self.iou,
                       max_det=self.max_det, agnostic=self.agnostic)
        return found, lb, outs

    def _kept(self, k: int, c: float) -> bool:
        """A defect class at or above its class threshold."""
        return 0 <= k < len(self.names) and bool(self.defect[k]) and c >= self.class_floor[k]

    @staticmethod
    def _box(xyxy: np.ndarray) -> tuple[int, int, int, int]:
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        x, y = int(round(x1)), int(round(y1))
        return x, y, max(int(round(x2)) - x, 1), max(int(round(y2)) - y, 1)

    @staticmethod
    def _inside(mask: np.ndarray | None, box: tuple[int, int, int, int]) -> bool:
        if mask is None:
            return True
        x, y, w, h = box
        return bool(mask[min(y + h // 2, mask.shape[0] - 1), min(x + w // 2, mask.shape[1] - 1)] > 0)

    def judge(self, frame, mask, min_region_px):
        """Score = highest defect-class confidence; one region per kept defect box (centre inside the ROI)."""
        found, lb, _ = self._detect(frame)
        regions = []
        for xyxy, c, k in zip(boxes_to_frame(found.xyxy, lb), found.conf, found.cls):
            box = self._box(xyxy)
            if self._kept(int(k), float(c)) and self._inside(mask, box) and box[2] * box[3] >= min_region_px:
                x, y, w, h = box
                contour = ((x, y), (x + w - 1, y), (x + w - 1, y + h - 1), (x, y + h - 1))
                regions.append(DefectRegion(x, y, w, h, w * h, float(c), contour, self.names[int(k)], float(c)))
        regions.sort(key=lambda d: d.confidence or 0.0, reverse=True)
        return max((d.peak_score for d in regions), default=0.0), tuple(regions), None


class YoloSegmentAdapter(YoloDetectAdapter):
    """Ultralytics YOLO segmentation export: detections with mask coefficients against prototype masks."""

    roles = ("boxes", "protos")

    def judge(self, frame, mask, min_region_px):
        """As detection; each region keeps the box and counts the instance mask's pixels as its area."""
        found, lb, outs = self._detect(frame)
        spec = self.manifest.input
        kept = [i for i, (k, c) in enumerate(zip(found.cls, found.conf)) if self._kept(int(k), float(c))]
        masks = instance_masks(found.extra[kept], outs[1], found.xyxy[kept], spec.width, spec.height)
        roi = None if mask is None else (mask > 0).astype(np.uint8)
        regions = []
        for i, m_in in zip(kept, masks):
            if not m_in.any():
                continue  # Ultralytics drops a detection whose mask is empty
            m_frame = mask_to_frame(m_in, lb)
            if roi is not None:
                m_frame &= roi
            area = int(m_frame.sum())
            box = self._box(boxes_to_frame(found.xyxy[i:i + 1], lb)[0])
            if area < max(min_region_px, 1) or not self._inside(mask, box):
                continue
            contours, _ = cv2.findContours(m_frame, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            outline = max(contours, key=cv2.contourArea)
            approx = cv2.approxPolyDP(outline, 1.5, True).reshape(-1, 2)
            c, k = float(found.conf[i]), int(found.cls[i])
            regions.append(DefectRegion(*box, area, c, tuple((int(u), int(v)) for u, v in approx), self.names[k], c))
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
        self.centre_crop = str(m.extra.get("crop", "stretch")) == "centre"

    def judge(self, frame, mask, min_region_px):
        """Whole-frame judgement; the top defect class at or above its class threshold becomes one region."""
        spec = self.manifest.input
        img = resize_centre_crop(frame, spec.width, spec.height) if self.centre_crop else frame
        (logits,) = self._run(to_model_input(img, spec))
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
