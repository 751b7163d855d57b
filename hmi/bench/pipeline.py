"""`hmi bench`: the full pipeline (emulated camera -> inference -> decision) against the model alone.

`--frame-size WxH` runs it on demo parts rendered at a camera's full resolution (e.g. 2448x2048), judged
as overlapping tiles batched through the model with their maps stitched (hmi.inference.tiling).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hmi.bench.line_model import install, taught_model
from hmi.core.errors import ImageError
from hmi.core.part import Part

HIRES_FRAME_COUNT = 12
HIRES_DEFECT_EVERY = 4  # every 4th high-resolution frame carries a defect, the types in turn
# Good parts the line model is taught on (rendering a 5 MP part takes about 2.5 s): enough to hold back the 45
# that show an INT8 backbone keeps the accuracy (hmi.inference.teach_int8), so --backbone int8 measures INT8.
LINE_TEACH_IMAGES = 48
DEMO_TEACH_IMAGES, DEMO_TEACH_SEED, DEMO_TEACH_SIZE = 200, 1, 384  # as tools/build_demo_model.sh teaches the demo
_HIRES_SEED = 2448
_SIZE_LIMITS = (64, 16384)


@dataclass
class BenchResult:
    """Figures of one benchmark run; `to_text` is what gets pasted into notes."""

    frames: int
    frame_size: str
    backend: str
    throughput_pipeline: float
    throughput_model_only: float
    latency_p50_ms: float
    latency_p99_ms: float
    model_p50_ms: float
    model_p99_ms: float
    ratio: float
    not_inspected: int
    machine: str
    extra: dict = field(default_factory=dict)
    machine_detail: dict = field(default_factory=dict)  # machine_figures(): CPU model, cores, backend, ...

    def to_json(self) -> str:
        """The figures as JSON."""
        return json.dumps(asdict(self), indent=2) + "\n"

    def to_text(self) -> str:
        """The figures as aligned text lines."""
        rows = [
            ("frames", self.frames), ("frame_size", self.frame_size), ("backend", self.backend),
            ("throughput_pipeline", f"{_rate(self.throughput_pipeline)} parts/s"),
            ("throughput_model_only", f"{_rate(self.throughput_model_only)} parts/s"),
            ("ratio pipeline/model_only", f"{self.ratio:.3f}  (target >= 0.9)"),
            ("latency_p50_ms", f"{self.latency_p50_ms:.1f} (capture -> verdict)"),
            ("latency_p99_ms", f"{self.latency_p99_ms:.1f}  (target <= 2 x model_p50 = {2 * self.model_p50_ms:.1f})"),
            ("model_p50_ms", f"{self.model_p50_ms:.1f}"), ("model_p99_ms", f"{self.model_p99_ms:.1f}"),
            ("not_inspected", self.not_inspected), ("machine", self.machine),
        ]
        rows += [(k, v) for k, v in self.extra.items()]
        return "\n".join(f"{k:<28} {v}" for k, v in rows)


def _rate(parts_per_s: float) -> str:
    """A throughput with enough digits to compare runs: two decimals below 10 parts/s (large frames), else one."""
    return f"{parts_per_s:.2f}" if parts_per_s < 10 else f"{parts_per_s:.1f}"


def cpu_name() -> str:
    """The CPU model as the kernel names it (e.g. 'AMD EPYC 7B13'), else what Python knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_figures(backend: str) -> dict:
    """What every figure is recorded with: CPU model, cores, architecture, OS, backend, ONNX Runtime version."""
    import os

    from hmi.core.part import backend_device
    from hmi.inference.backend import gpu_identity, runtime_version

    return {"cpu": cpu_name(), "cores": os.cpu_count() or 0, "arch": platform.machine(),
            "os": f"{platform.system()} {platform.release()}", "backend": backend,
            "gpu": gpu_identity() if backend_device(backend) != "cpu" else "", "onnxruntime": runtime_version()}


def parse_frame_size(text: str) -> tuple[int, int]:
    """'2448x2048' -> (2448, 2048): the argparse type of `hmi bench --frame-size`."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    low, high = _SIZE_LIMITS
    if not match or not all(low <= int(v) <= high for v in match.groups()):
        raise argparse.ArgumentTypeError(f"frame size {text!r} is not WIDTHxHEIGHT with sides from {low} to {high} "
                                         "pixels; write it like 2448x2048")
    return int(match.group(1)), int(match.group(2))


def bench_cache() -> Path:
    """The user's cache folder the bench keeps its rendered frames and taught models in."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("inspection-station", "hmi"))


def hires_demo_frames(width: int, height: int, count: int = HIRES_FRAME_COUNT,
                      cache_root: Path | None = None, good_only: bool = False) -> Path:
    """Folder of `count` demo parts rendered at width x height (Mono8 PNG), written once into the user's cache;
    every HIRES_DEFECT_EVERY-th carries a defect, or none with `good_only` (other parts, for teaching).

    Each part is rendered square at the longer side and cropped to the frame's centre, so the part
    keeps its proportions and the camera's full resolution (no upscaled pixels).
    """
    from hmi.demo.dataset import part_seeds, write_png
    from hmi.demo.product import DEFECT_TYPES, render_part

    root = cache_root or bench_cache()
    out = root / "bench-frames" / f"{width}x{height}-{count}{'-good' if good_only else ''}"
    if out.is_dir() and len(list(out.glob("frame_*.png"))) == count:
        return out
    tmp = out.with_name(out.name + ".partial")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise ImageError(f"cannot create the bench frame folder {tmp} ({exc.strerror or exc})",
                         "free disk space or check the permissions of the user's cache folder") from None
    side = max(width, height)
    y0, x0 = (side - height) // 2, (side - width) // 2
    for i, seed in enumerate(part_seeds(_HIRES_SEED + (1 if good_only else 0), count)):
        defect = None
        if not good_only and i % HIRES_DEFECT_EVERY == HIRES_DEFECT_EVERY - 1:
            defect = DEFECT_TYPES[(i // HIRES_DEFECT_EVERY) % len(DEFECT_TYPES)]
        image = render_part(seed, defect, side).image
        write_png(tmp / f"frame_{i:03d}.png", np.ascontiguousarray(image[y0:y0 + height, x0:x0 + width]))
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return out


def demo_teach_frames(cache_root: Path | None = None) -> Path:
    """Folder of the good demo parts the shipped demo model was taught on (as tools/build_demo_model.sh writes
    them with hmi.demo.dataset.write_dataset), written once into the user's cache."""
    from hmi.demo.dataset import part_seeds, write_png
    from hmi.demo.product import render_part

    root = cache_root or bench_cache()
    out = root / "bench-frames" / f"demo-{DEMO_TEACH_SIZE}-{DEMO_TEACH_IMAGES}-good-s{DEMO_TEACH_SEED}"
    if len(list(out.glob("*.png"))) != DEMO_TEACH_IMAGES:
        out.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(part_seeds(DEMO_TEACH_SEED, DEMO_TEACH_IMAGES)):
            write_png(out / f"{i:05d}.png", render_part(seed, None, DEMO_TEACH_SIZE).image)
    return out


def _tiling_figures(inspector, frame_shape: tuple[int, int]) -> dict:
    """How the model-only runs judged a frame: tiles, model runs and tiles per run, as counted."""
    tiled = inspector.tiled
    if tiled is not None:
        frames = max(tiled.frames_run, 1)
        return {"tiling": tiled.describe(frame_shape),
                "tiling_counted": (f"{tiled.tiles_run / frames:.1f} tiles and {tiled.model_runs / frames:.1f} model "
                                   f"runs a frame ({tiled.tiles_run / max(tiled.model_runs, 1):.1f} tiles a run)")}
    tiler = inspector.tiler
    if tiler is None or not tiler.wants(frame_shape):
        return {"tiling": "off (each frame resized to the model input)"}
    frames = max(tiler.frames_run, 1)
    return {
        "tiling": tiler.describe(frame_shape),
        "tiling_counted": (f"{tiler.tiles_run / frames:.1f} tiles and {tiler.model_runs / frames:.1f} model runs "
                           f"a frame ({tiler.tiles_run / max(tiler.model_runs, 1):.1f} tiles a run)"),
    }


def _model_only(inspector, frames: list[np.ndarray], n: int) -> tuple[float, np.ndarray]:
    times = np.empty(n)
    t_start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        inspector.inspect(frames[i % len(frames)])
        times[i] = time.perf_counter() - t0
    return n / (time.perf_counter() - t_start), times * 1000.0


def _run_pipeline(station, frames: int) -> tuple[float, np.ndarray, int]:
    """Run `frames` parts through a built station; (parts/s capture-to-verdict, latencies in ms, NOT_INSPECTED)."""
    latencies: list[float] = []
    stamps: list[float] = []

    def on_part(part: Part) -> None:
        latencies.append(part.latency_ms or 0.0)
        stamps.append(part.captured_mono)
        stamps.append(part.decision.decided_mono)

    station.outlet.subscribe(on_part)
    station.start()
    try:
        if not station.wait_done(timeout_s=max(60.0, frames * 2.0)):
            failed = station.supervisor.failed()
            raise RuntimeError("pipeline did not finish: " + "; ".join(h.error for h in failed))
    finally:
        station.stop()
    lat = np.asarray(latencies[:frames])
    span = max(stamps) - min(stamps)
    return (len(lat) / span if span > 0 else float("nan")), lat, station.outlet.counts().not_inspected


def _plc_latencies(db: Path) -> np.ndarray:
    """Capture -> PLC-written latency of every delivered part, in ms, from the records."""
    import sqlite3
    from datetime import datetime

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT captured_at, plc_delivered_at FROM inspections WHERE plc_delivered_at IS NOT NULL").fetchall()
    finally:
        conn.close()
    return np.array([(datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() * 1000.0 for a, b in rows])


def run_bench(data_dir: Path, overrides: list[str], frames: int = 300, with_outputs: bool = True,
              rounds: int = 3, frame_size: tuple[int, int] | None = None,
              teach_size: int | None = None, backbone: str = "float") -> BenchResult:
    """Model alone, the judging pipeline, and the pipeline with records and PLC, on the same frames.

    With `frame_size` the frames are demo parts rendered at that size (`hires_demo_frames`), replayed by
    the emulated camera and judged with inference.tile on; otherwise the shipped 384 px demo frames.
    They are judged by the shipped demo model at its own scale, or with `teach_size` (needs `frame_size`) by
    a model taught on good parts rendered at `frame_size` at that teach size, as a line with that camera
    would teach (hmi.bench.line_model), in a data folder of the bench's own. With `backbone` "int8" that model,
    or without `teach_size` the demo model taught again as the shipped one was, has an INT8 backbone.

    The runs alternate (model, core, full, model, core, full, ..., model) and each figure is the mean of its
    runs, so a machine whose speed drifts (other load, clocks) favours none of them. The PLC runs
    in its own process, as a real PLC is its own machine; records go to a fresh file each run.
    """
    import tempfile

    from hmi.config.loader import load_station
    from hmi.demo.dataset import demo_frames_dir

    frames_dir = demo_frames_dir()
    settings = ["station.mode=production", "camera.trigger=software", "camera.rate_hz=0"]
    if frame_size is not None:
        frames_dir = hires_demo_frames(*frame_size)
        settings += [f"camera.replay_path={frames_dir}", "inference.tile=true"]
    line_model: Path | None = None
    about = ""
    if teach_size is not None:
        if frame_size is None:
            raise ValueError("a teach size needs a frame size")
        line_model = taught_model(hires_demo_frames(*frame_size, count=LINE_TEACH_IMAGES, good_only=True),
                                  teach_size, bench_cache(), backbone)
        about = (f"taught on {LINE_TEACH_IMAGES} good parts rendered at {frame_size[0]}x{frame_size[1]}, as a line "
                 "with this camera teaches")
    elif backbone != "float":
        line_model = taught_model(demo_teach_frames(), DEMO_TEACH_SIZE, bench_cache(), backbone)
        about = f"the demo model taught again on its {DEMO_TEACH_IMAGES} good parts, as tools/build_demo_model.sh does"
    if line_model is not None:
        data_dir = Path(tempfile.mkdtemp(prefix="hmi-bench-line-"))  # never a recipe in the station's own folder
        load_station(data_dir)
        settings.append(f"station.recipe={install(data_dir, line_model)}")
    try:
        return _run_bench(data_dir, settings, overrides, frames, with_outputs, rounds, frame_size, frames_dir,
                          line_model, about)
    finally:
        if line_model is not None:
            shutil.rmtree(data_dir, ignore_errors=True)


def _run_bench(data_dir: Path, settings: list[str], overrides: list[str], frames: int, with_outputs: bool,
               rounds: int, frame_size: tuple[int, int] | None, frames_dir: Path,
               line_model: Path | None, about: str) -> BenchResult:
    import os
    import subprocess
    import sys
    import tempfile

    from hmi.config.loader import load_station
    from hmi.inference.inspector import read_image
    from hmi.station import Station, build_station

    cfg = load_station(data_dir, settings + overrides)

    def core() -> Station:
        # The configured camera replays frames_dir: camera.replay_path when set above, else the demo frames.
        return build_station(cfg, data_dir, max_parts=frames, records=False)

    first: Station | None = core()
    inspector = first.active.get().inspector
    assert inspector is not None
    backend = first.backend
    images = [read_image(p) for p in sorted(frames_dir.glob("*.png"))]
    _, settle_ms = _model_only(inspector, images, min(20, frames))  # settle caches and thread pools
    extra: dict = {}
    if frame_size is not None and not any(o.startswith("pipeline.deadline_ms=") for o in overrides):
        # The default deadline is sized for 384 px frames; a line judging tiled full-resolution frames
        # sets it to its own takt. Here: three times the slowest settling run, so that the figures
        # measure throughput rather than parts failed by a deadline meant for another frame size.
        deadline = max(cfg.pipeline.deadline_ms, int(math.ceil(3.0 * float(settle_ms.max()) / 100.0)) * 100)
        settings.append(f"pipeline.deadline_ms={deadline}")
        cfg = load_station(data_dir, settings + overrides)
        first.stop()  # built but never started: the stations below carry the new deadline
        first = None
        extra["deadline_ms"] = f"{deadline} (3 x the slowest settling run; --set pipeline.deadline_ms overrides)"
    settings += overrides
    if inspector.tiled is not None:
        inspector.tiled.reset_counts()
    model_runs = [_model_only(inspector, images, frames)]
    tiling = _tiling_figures(inspector, images[0].shape[:2])
    precision = inspector.package.manifest.backbone_precision
    core_runs: list[tuple[float, np.ndarray, int]] = []
    full_runs: list[tuple[float, np.ndarray, np.ndarray]] = []
    plc = None
    port = 0
    if with_outputs:
        # The simulated PLC stands in for a separate machine: at low priority, the CPU its pure-Python S7
        # server spends (about 1 ms a part here) is not taken from the station, as a real PLC's would not be.
        plc = subprocess.Popen([sys.executable, "-m", "hmi.plc.simulator", "--port", "0"], stdout=subprocess.PIPE,
                               text=True, preexec_fn=(lambda: os.nice(15)) if hasattr(os, "nice") else None)
        port = int(re.search(r":(\d+)", plc.stdout.readline()).group(1))
    try:
        for r in range(rounds):
            if r:
                model_runs.append(_model_only(inspector, images, frames))
            core_runs.append(_run_pipeline(first if (r == 0 and first is not None) else core(), frames))
            if with_outputs:
                with tempfile.TemporaryDirectory(prefix="hmi-bench-") as tmp:
                    out_dir = Path(tmp)
                    out_cfg = load_station(out_dir, ["plc.mode=s7", "plc.host=127.0.0.1", f"plc.port={port}",
                                                     *settings])
                    if line_model is not None:
                        install(out_dir, line_model)
                    full = build_station(out_cfg, out_dir, max_parts=frames)
                    tp, lat, _ = _run_pipeline(full, frames)
                    full_runs.append((tp, lat, _plc_latencies(out_dir / "hmi.db")))
    finally:
        if plc is not None:
            plc.terminate()
            plc.wait(timeout=30)
    model_runs.append(_model_only(inspector, images, frames))

    model_tp = float(np.mean([tp for tp, _ in model_runs]))
    model_ms = np.concatenate([ms for _, ms in model_runs])
    pipe_tp = float(np.mean([tp for tp, _, _ in core_runs]))
    lat = np.concatenate([lt for _, lt, _ in core_runs])
    extra |= {"runs": f"{rounds} runs of each pipeline and {len(model_runs)} of the model alone, interleaved; means",
                   "per_run_model_only": " ".join(_rate(tp) for tp, _ in model_runs),
                   "per_run_pipeline": " ".join(_rate(tp) for tp, _, _ in core_runs), "backbone": precision, **tiling}
    if full_runs:
        full_tp = float(np.mean([tp for tp, _, _ in full_runs]))
        plc_lat = np.concatenate([p for _, _, p in full_runs])
        extra |= {
            "per_run_with_store_plc": " ".join(_rate(tp) for tp, _, _ in full_runs),
            "throughput_with_store_plc": f"{_rate(full_tp)} parts/s (simulated PLC in its own process, nice 15)",
            "drop_vs_core_pipeline": f"{100.0 * (1 - full_tp / pipe_tp):.1f} %  (target <= 10 %)",
            "plc_written_parts": f"{plc_lat.size} of {frames * rounds}",
            "latency_plc_p50_ms": f"{np.percentile(plc_lat, 50):.1f} (capture -> PLC written)" if plc_lat.size else "n/a",
            "latency_plc_p99_ms": (f"{np.percentile(plc_lat, 99):.1f}  (target < the PLC's delivery deadline, "
                                   f"{out_cfg.plc.delivery_deadline_ms} ms)") if plc_lat.size else "n/a",
        }
    h, w = images[0].shape[:2]
    return BenchResult(
        frames=frames, frame_size=f"{w}x{h}", backend=backend,
        throughput_pipeline=pipe_tp, throughput_model_only=model_tp,
        latency_p50_ms=float(np.percentile(lat, 50)), latency_p99_ms=float(np.percentile(lat, 99)),
        model_p50_ms=float(np.percentile(model_ms, 50)), model_p99_ms=float(np.percentile(model_ms, 99)),
        ratio=pipe_tp / model_tp, not_inspected=sum(n for _, _, n in core_runs),
        machine=f"{cpu_name()}, {os.cpu_count()} cores, {platform.machine()}, backend {backend}",
        extra=extra | ({"model": f"{line_model.name}: {about}"} if line_model is not None else {}),
        machine_detail=machine_figures(backend),
    )
