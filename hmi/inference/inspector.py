"""Run a model package on frames: pre-process, one ONNX Runtime call, anomaly map and regions."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hmi.core.errors import ModelError
from hmi.core.image_files import read_frame
from hmi.core.part import Inspection
from hmi.inference.backend import Session
from hmi.inference.geometry import (MIN_SIDE, Geometry, PreparedFrame, TiledSession, area_cells,
                                    map_to_frame as geometry_map_to_frame)
from hmi.inference.manifest_check import check_fits
from hmi.inference.package import Manifest, ModelPackage
from hmi.inference.processing import check_frame, find_regions, map_to_frame, roi_mask, to_model_input

if TYPE_CHECKING:
    from hmi.inference.tiling import TiledAnomalyRunner

log = logging.getLogger(__name__)


class Inspector:
    """A loaded model with its ROI: `inspect(frame)` gives score, map (anomaly kinds) and regions.

    Kinds other than "anomaly" run through their adapter (hmi.inference.adapters); with `tile`, anomaly
    models judge large frames as overlapping model-size tiles (hmi.inference.tiling). A taught model's tiles
    go through the model `batch` at a time: None = the model's own (4), 0 = measured at warm-up.

    Owned by the inference thread. Normalisation lives inside the ONNX graph, so Python only
    resizes and masks, and the CLI, the station and the teach validation score identically.
    """

    def __init__(self, package: ModelPackage, *, provider: str = "auto", threads: int = 0,
                 bank_search: str = "clusters", engine_cache: Path | None = None,
                 roi_rectangles: list[tuple[int, int, int, int]] | None = None,
                 roi_polygons: list[list[tuple[int, int]]] | None = None,
                 min_region_px: int = 4, tile: bool = False, tile_overlap: int | None = None,
                 batch: int | None = None) -> None:
        m = package.manifest
        if m.kind != "anomaly":
            from hmi.inference.adapters import ADAPTERS

            if m.kind not in ADAPTERS:
                raise ModelError(f"model '{m.name}' is of kind '{m.kind}', which this station version cannot run",
                                 "use an anomaly model made by 'hmi teach' or one imported by 'hmi model import'")
        elif "score" not in m.outputs or "anomaly_map" not in m.outputs:
            raise ModelError(f"model '{m.name}' manifest does not name its score and anomaly_map outputs",
                             "rebuild the package with 'hmi teach'")
        self.package = package
        self.session = Session(package.onnx_path, provider=provider, threads=threads, engine_cache=engine_cache,
                               model_sha256=package.sha256, trt_shapes=_trt_shapes(m), bank_search=bank_search)
        # Before the first frame: a manifest that does not describe its ONNX file is refused in plain words.
        check_fits(m, self.session.inputs(), self.session.outputs(), batched=m.geometry is not None)
        self._adapter = None
        self._tiler = None
        self._tiled: TiledSession | None = None
        self._tune_batch = batch == 0  # 0: the tiles a run are measured at warm-up; None: the model's own
        if m.kind != "anomaly":
            from hmi.inference.adapters import adapter_for

            self._adapter = adapter_for(package, self.session)
        else:
            missing = {m.outputs["score"], m.outputs["anomaly_map"]} - set(self.session.output_names)
            if missing or m.input.name not in self.session.input_names:
                raise ModelError(f"model '{m.name}': the ONNX graph lacks {sorted(missing) or [m.input.name]}",
                                 "the manifest does not match the ONNX file; rebuild the package")
            if m.geometry is not None:
                g = m.geometry
                geometry = Geometry(scale=g.scale, tile=g.tile, overlap=g.overlap)
                if batch:
                    geometry = replace(geometry, batch=batch)
                self._tiled = TiledSession(self.session, geometry, m.input.name, m.outputs["anomaly_map"])
            elif tile or str(m.extra.get("tile", "")).lower() in ("on", "yes", "true"):
                from hmi.inference.tiling import TiledAnomalyRunner

                self._tiler = TiledAnomalyRunner(self.session, m.input, m.outputs["score"], m.outputs["anomaly_map"],
                                                 overlap=tile_overlap)
        self._outputs = [m.outputs["score"], m.outputs["anomaly_map"]] if self._adapter is None else []
        self._rects = list(roi_rectangles or [])
        self._polys = list(roi_polygons or [])
        self._masks: dict[tuple[int, int], np.ndarray | None] = {}
        self._areas: dict[tuple[int, int], np.ndarray | None] = {}
        self.min_region_px = min_region_px
        self.region_threshold = m.region_threshold if m.region_threshold is not None else m.thresholds.score

    @property
    def tiler(self) -> TiledAnomalyRunner | None:
        """The tile runner used for frames much larger than the model input (None when tiling is off)."""
        return self._tiler

    @property
    def tiled(self) -> TiledSession | None:
        """The geometry runner of models taught at a fixed scale in tiles (None for models that resize frames)."""
        return self._tiled

    @property
    def spares_cores(self) -> bool:
        """True when the model leaves CPU cores free while it runs (hmi.inference.backend.BackendInfo)."""
        return self.session.info.spares_cores

    @property
    def backend(self) -> str:
        """Execution provider actually in use, and the CPU's bank search ('cpu', 'cpu-clusters', 'cuda', 'tensorrt-fp16')."""
        return self.session.info.label

    def _mask_for(self, shape: tuple[int, int]) -> np.ndarray | None:
        if shape not in self._masks:
            self._masks[shape] = roi_mask(shape, self._rects, self._polys)
        return self._masks[shape]

    def _area_for(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The ROI as map cells at the model's scale (tiled models judge only those; None: the whole frame)."""
        if shape not in self._areas:
            mask = self._mask_for(shape)
            self._areas[shape] = None if mask is None or self._tiled is None else area_cells(mask, self._tiled.geometry)
        return self._areas[shape]

    def warm_up(self, runs: int = 3) -> None:
        """Run the model on blank frames so the first part is not slowed by lazy initialisation: frames of the
        size the model was taught on (models judged in tiles: square, the taught shorter side), else its input.

        A taught size matters at 5 MP: warmed on a 512 px blank, the first 2448x2048 part took 48-52 ms
        against 26 ms for the next ones (ONNX Runtime's memory, the first large frames); warmed on a frame
        of about its size, 24-27 ms.
        """
        spec = self.package.manifest.input
        g = self.package.manifest.geometry
        if self._tiled is not None and g is not None:
            side = max(MIN_SIDE, round(g.teach_size / g.scale))
            blank = np.full((side, side), 128, np.uint8)
        else:
            blank = np.full((spec.height, spec.width), 128, np.uint8)
        for _ in range(runs):
            self.inspect(blank)
        if self._tune_batch and self._tiled is not None and runs > 0:
            batch = self._tiled.tune_batch()
            log.info("model %s: %d tiles a model run (the fastest on this machine)", self.package.manifest.name, batch)

    def run_model(self, frame: np.ndarray) -> tuple[float, np.ndarray]:
        """Raw (score, anomaly map at model resolution) for one frame, without ROI or regions."""
        if self._tiled is not None:
            amap = self._tiled(check_frame(frame))
            return float(amap.max()), amap
        if self._adapter is not None:
            raise ModelError(f"model '{self.package.manifest.name}' is of kind '{self.package.manifest.kind}' "
                             "and has no raw anomaly map", "use inspect() for imported models")
        x = to_model_input(frame, self.package.manifest.input)
        out = self.session.run({self.package.manifest.input.name: x}, self._outputs)
        score = np.asarray(out[self._outputs[0]], np.float32).reshape(-1)
        amap = np.asarray(out[self._outputs[1]], np.float32)
        if score.size < 1 or amap.ndim < 2:
            raise ModelError(f"model '{self.package.manifest.name}' returned outputs of unexpected shape "
                             f"{score.shape}, {amap.shape}", "rebuild the package with 'hmi teach'")
        while amap.ndim > 2:
            amap = amap[0]
        return float(score[0]), amap

    def frame_map(self, inspection: Inspection, frame_shape: tuple[int, int]) -> np.ndarray:
        """An inspection's anomaly map at the frame's own height x width (float32, same scale as the score)."""
        if inspection.anomaly_map is None:
            return np.zeros(frame_shape, np.float32)
        return self.frame_map_of(inspection.anomaly_map, frame_shape)

    def frame_map_of(self, amap: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
        """A model-resolution anomaly map at the frame's own height x width (float32)."""
        if self._tiled is not None:
            return geometry_map_to_frame(amap, self._tiled.geometry, frame_shape)
        return map_to_frame(amap, frame_shape)

    def inspect(self, frame: np.ndarray) -> Inspection:
        """Score a frame; regions are where the upsampled map reaches the region threshold inside the ROI."""
        judging = self.begin(frame)
        self.run(judging)
        return self.finish(judging)

    # The three steps of `inspect`, which the inference stages run on three threads so that consecutive parts
    # overlap (hmi.inference.worker): `begin` and `finish` never call the model, `run` only calls it.
    def begin(self, frame: np.ndarray) -> Judging:
        """Check the frame and (models judged in tiles) bring it to the model's scale and cut its tiles."""
        t0 = time.perf_counter()
        frame = check_frame(frame)
        h, w = frame.shape[:2]
        judging = Judging(frame, self._mask_for((h, w)))
        if self._tiled is not None:  # cropped to the ROI, tiles outside it skipped
            judging.prepared = self._tiled.prepare(frame, self._area_for((h, w)))
        judging.busy_s += time.perf_counter() - t0
        return judging

    def run(self, judging: Judging) -> None:
        """Run the model on a begun frame (imported kinds are judged whole here)."""
        t0 = time.perf_counter()
        frame = judging.frame
        if self._adapter is not None:
            m = self.package.manifest
            score, regions, amap_or_none = self._adapter.judge(frame, judging.mask, self.min_region_px)
            judging.inspection = Inspection(score=score, regions=regions, backend=self.backend, model_name=m.name,
                                            model_sha256=m.sha256, anomaly_map=amap_or_none,
                                            infer_ms=(judging.busy_s + time.perf_counter() - t0) * 1000.0)
            return
        if judging.prepared is not None:
            assert self._tiled is not None
            amap = self._tiled.run(judging.prepared)
            score = float(amap.max())
        elif self._tiler is not None and self._tiler.wants(judging.shape):
            score, amap = self._tiler.run(frame[:, :, :3] if frame.ndim == 3 else frame)
        else:
            score, amap = self.run_model(frame)
        judging.score, judging.amap = score, amap
        judging.busy_s += time.perf_counter() - t0

    def finish(self, judging: Judging) -> Inspection:
        """The inspection of a frame the model has run on: its score inside the ROI and its defect regions."""
        if judging.inspection is not None:
            return judging.inspection
        if judging.amap is None:
            raise ModelError("the inspection was finished before the model ran", "report this: a station fault")
        t0 = time.perf_counter()
        mask, amap, score = judging.mask, judging.amap, judging.score
        regions: tuple = ()
        if mask is not None or not cool(amap, self.region_threshold):
            full = self.frame_map_of(amap, judging.shape)
            if mask is not None:
                full = np.where(mask > 0, full, 0.0).astype(np.float32)
                score = float(full.max())  # only what lies inside the ROI counts
            regions = find_regions(full, self.region_threshold, mask, self.min_region_px)
        m = self.package.manifest
        return Inspection(score=score, regions=regions, backend=self.backend, model_name=m.name,
                          model_sha256=m.sha256, infer_ms=(judging.busy_s + time.perf_counter() - t0) * 1000.0,
                          anomaly_map=amap)


@dataclass
class Judging:
    """One frame on its way through an inspector's steps: begun, run by the model, finished."""

    frame: np.ndarray
    mask: np.ndarray | None
    prepared: PreparedFrame | None = None
    score: float = 0.0
    amap: np.ndarray | None = None
    inspection: Inspection | None = None  # judged whole by an adapter
    busy_s: float = 0.0  # time spent in the steps, not waiting between them

    @property
    def shape(self) -> tuple[int, int]:
        """The frame's (height, width)."""
        return self.frame.shape[:2]


def cool(amap: np.ndarray, threshold: float) -> bool:
    """True when no pixel of the map brought to frame size can reach `threshold`: bilinear upsampling weighs
    the cells convexly and never exceeds their peak (the margin covers float rounding), so a part hot nowhere
    skips the frame-sized map and the region search (at 5 MP on 2 cores: 3.5 -> 2.3 ms a part outside the
    model, tools/bench_inspect_split.py)."""
    peak = float(np.max(amap)) if amap.size else -np.inf
    return peak < threshold - 1e-5 * max(1.0, abs(threshold))


def _trt_shapes(m: Manifest) -> tuple[str, str, str] | None:
    """TensorRT's shape profile for models judged in tiles: one engine from the smallest tile to a full batch."""
    if m.kind != "anomaly" or m.geometry is None:
        return None
    full = f"{m.input.name}:{Geometry.batch}x{m.geometry.tile}x{m.geometry.tile}x3"
    return f"{m.input.name}:1x{MIN_SIDE}x{MIN_SIDE}x3", full, full


def read_image(path: Path) -> np.ndarray:
    """Read an image file as uint8 (grey or RGB) or raise ImageError in plain words."""
    return check_frame(read_frame(path))
