"""`hmi bench`: the full pipeline (emulated camera -> inference -> decision) against the model alone."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hmi.core.part import Part


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

    def to_json(self) -> str:
        """The figures as JSON."""
        return json.dumps(asdict(self), indent=2) + "\n"

    def to_text(self) -> str:
        """The figures as aligned text lines."""
        rows = [
            ("frames", self.frames), ("frame_size", self.frame_size), ("backend", self.backend),
            ("throughput_pipeline", f"{self.throughput_pipeline:.1f} parts/s"),
            ("throughput_model_only", f"{self.throughput_model_only:.1f} parts/s"),
            ("ratio pipeline/model_only", f"{self.ratio:.3f}  (target >= 0.9)"),
            ("latency_p50_ms", f"{self.latency_p50_ms:.1f} (capture -> verdict)"),
            ("latency_p99_ms", f"{self.latency_p99_ms:.1f}  (target <= 2 x model_p50 = {2 * self.model_p50_ms:.1f})"),
            ("model_p50_ms", f"{self.model_p50_ms:.1f}"), ("model_p99_ms", f"{self.model_p99_ms:.1f}"),
            ("not_inspected", self.not_inspected), ("machine", self.machine),
        ]
        rows += [(k, v) for k, v in self.extra.items()]
        return "\n".join(f"{k:<28} {v}" for k, v in rows)


def _model_only(inspector, frames: list[np.ndarray], n: int) -> tuple[float, np.ndarray]:
    times = np.empty(n)
    t_start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        inspector.inspect(frames[i % len(frames)])
        times[i] = time.perf_counter() - t0
    return n / (time.perf_counter() - t_start), times * 1000.0


def _run_pipeline(station, frames: int) -> tuple[float, np.ndarray]:
    """Run `frames` parts through a built station; (parts/s capture-to-verdict, latencies in ms)."""
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
    return (len(lat) / span if span > 0 else float("nan")), lat


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


def run_bench(data_dir: Path, overrides: list[str], frames: int = 300, with_outputs: bool = True) -> BenchResult:
    """Model alone, then the judging pipeline, then the pipeline with records and PLC, on the same frames.

    The model-only figure is taken before and after the pipeline runs and averaged, so a machine
    whose speed drifts (other load, clocks) does not favour either side.
    """
    import tempfile

    from hmi.app import Station
    from hmi.camera.factory import open_source
    from hmi.config.loader import load_station
    from hmi.demo.dataset import demo_frames_dir
    from hmi.downstream import RecordsAndPlc
    from hmi.inference.inspector import read_image

    settings = ["station.mode=production", "camera.trigger=software", "camera.rate_hz=0", *overrides]
    cfg = load_station(data_dir, settings)
    station = Station(cfg, data_dir, source=open_source(cfg.camera, demo_frames_dir()), max_parts=frames)
    inspector = station.active.get().inspector
    assert inspector is not None
    images = [read_image(p) for p in sorted(demo_frames_dir().glob("*.png"))]
    _model_only(inspector, images, min(20, frames))  # settle caches and thread pools
    model_tp1, model_ms1 = _model_only(inspector, images, frames)
    pipe_tp, lat = _run_pipeline(station, frames)
    counts = station.outlet.counts()
    model_tp2, model_ms2 = _model_only(inspector, images, frames)
    model_tp = (model_tp1 + model_tp2) / 2
    model_ms = np.concatenate([model_ms1, model_ms2])
    extra: dict = {}
    if with_outputs:
        with tempfile.TemporaryDirectory(prefix="hmi-bench-") as tmp:
            out_dir = Path(tmp)
            out_cfg = load_station(out_dir, ["plc.mode=simulated", *settings])
            full = Station(out_cfg, out_dir, source=open_source(out_cfg.camera, demo_frames_dir()), max_parts=frames,
                           downstream=RecordsAndPlc(out_cfg, out_dir))
            full_tp, full_lat = _run_pipeline(full, frames)
            plc_lat = _plc_latencies(out_dir / "hmi.db")
        extra = {
            "throughput_with_store_plc": f"{full_tp:.1f} parts/s",
            "drop_vs_core_pipeline": f"{100.0 * (1 - full_tp / pipe_tp):.1f} %  (target <= 10 %)",
            "latency_verdict_p99_ms(outputs)": f"{np.percentile(full_lat, 99):.1f}",
            "plc_written_parts": f"{plc_lat.size} of {frames}",
            "latency_plc_p50_ms": f"{np.percentile(plc_lat, 50):.1f} (capture -> PLC written)" if plc_lat.size else "n/a",
            "latency_plc_p99_ms": f"{np.percentile(plc_lat, 99):.1f}" if plc_lat.size else "n/a",
        }
    h, w = images[0].shape[:2]
    return BenchResult(
        frames=frames, frame_size=f"{w}x{h}", backend=station.backend,
        throughput_pipeline=pipe_tp, throughput_model_only=model_tp,
        latency_p50_ms=float(np.percentile(lat, 50)), latency_p99_ms=float(np.percentile(lat, 99)),
        model_p50_ms=float(np.percentile(model_ms, 50)), model_p99_ms=float(np.percentile(model_ms, 99)),
        ratio=pipe_tp / model_tp, not_inspected=counts.not_inspected,
        machine=f"{platform.machine()} {platform.processor() or ''} {__import__('os').cpu_count()} cores".strip(),
        extra=extra,
    )
