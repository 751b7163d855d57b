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


def run_bench(data_dir: Path, overrides: list[str], frames: int = 300) -> BenchResult:
    """Run the model alone on the demo frames, then the same frames through the live pipeline."""
    from hmi.app import Station
    from hmi.camera.factory import open_source
    from hmi.config.loader import load_station
    from hmi.demo.dataset import demo_frames_dir
    from hmi.inference.inspector import read_image

    cfg = load_station(data_dir, ["station.mode=production", "camera.trigger=software", "camera.rate_hz=0",
                                  *overrides])
    source = open_source(cfg.camera, demo_frames_dir())
    station = Station(cfg, data_dir, source=source, max_parts=frames)
    inspector = station.active.get().inspector
    assert inspector is not None
    images = [read_image(p) for p in sorted(demo_frames_dir().glob("*.png"))]
    _model_only(inspector, images, min(20, frames))  # settle caches and thread pools
    model_tp, model_ms = _model_only(inspector, images, frames)

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
    counts = station.outlet.counts()
    lat = np.asarray(latencies[:frames])
    span = max(stamps) - min(stamps)
    pipe_tp = len(lat) / span if span > 0 else float("nan")
    h, w = images[0].shape[:2]
    return BenchResult(
        frames=frames, frame_size=f"{w}x{h}", backend=station.backend,
        throughput_pipeline=pipe_tp, throughput_model_only=model_tp,
        latency_p50_ms=float(np.percentile(lat, 50)), latency_p99_ms=float(np.percentile(lat, 99)),
        model_p50_ms=float(np.percentile(model_ms, 50)), model_p99_ms=float(np.percentile(model_ms, 99)),
        ratio=pipe_tp / model_tp, not_inspected=counts.not_inspected,
        machine=f"{platform.machine()} {platform.processor() or ''} {__import__('os').cpu_count()} cores".strip(),
    )
