"""Event-loop latency of the touchscreen while a model is taught from the teach screen and the line runs.

Builds a production station on the emulated camera (demo product, records, PLC off), shows the teach
screen at 1280 x 800, starts teaching from the next N parts on the line, and measures how late a 10 ms
QTimer fires on the UI thread until the model is built (same probe as hmi/ui/bench.py). Also reports
the line's parts per second before and during teaching. Target: p99 lateness under 50 ms.

    .venv/bin/python tools/bench_teach_ui.py [--parts 60] [--input-size 256] [--rate 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYLON_CAMEMU", "1")

# The station, Qt and NumPy are imported inside the functions: the teaching process (multiprocessing 'spawn')
# runs this file again as its main module, and must not load Qt, nor NumPy before it limits its threads.

PROBE_MS = 10


def _spin(seconds: float) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()


def _pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def measure(data_dir: Path, parts: int, input_size: int, rate_hz: float, baseline_s: float = 3.0) -> dict:
    """Run the line, teach from the screen, and return the latency and throughput figures."""
    import numpy as np
    from PySide6.QtCore import Qt, QTimer

    from hmi.config.loader import load_station
    from hmi.station import build_station
    from hmi.store.users import Role
    from hmi.ui.context import ScreenContext
    from hmi.ui.messages import MessageChannel
    from hmi.ui.screens.teach import TeachScreen
    from hmi.ui.session import OperatorSession
    from hmi.ui.shell import application
    from hmi.ui.tasks import BackgroundTasks
    from hmi.ui.theme import stylesheet
    from hmi.ui.touch import TouchSize

    app = application()
    cfg = load_station(data_dir, ["station.mode=production", "camera.kind=emulated", "camera.trigger=software",
                                  f"camera.rate_hz={rate_hz}", "plc.mode=off"])
    station = build_station(cfg, data_dir)
    admin = station.users.add("admin", Role.ADMIN, "999999", None)
    station.users.add("theo", Role.TECHNICIAN, "432165", admin)
    channel = MessageChannel()
    tasks = BackgroundTasks(channel)
    session = OperatorSession(station.users, tasks, channel)
    touch = TouchSize.of(cfg.ui)
    screen = TeachScreen(ScreenContext(touch, station, tasks, channel, session), input_sizes=(input_size,))
    screen.setStyleSheet(stylesheet(touch.px))
    screen.resize(1280, 800)
    stamps: list[float] = []
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(PROBE_MS)
    probe.timeout.connect(lambda: stamps.append(time.perf_counter()))
    station.start()
    try:
        session.log_in(station.users.authenticate("theo", "432165"))
        screen.show()
        screen.on_show()
        _spin(2.0)  # warm-up: camera, model, first parts
        probe.start()
        n0, t0 = station.outlet.counts().total, time.monotonic()
        _spin(baseline_s)
        base_rate = (station.outlet.counts().total - n0) / (time.monotonic() - t0)
        base_stamps, stamps[:] = list(stamps), []
        screen.name.setText("bench-teach")
        screen.parts.setText(str(parts))
        n1, t1 = station.outlet.counts().total, time.monotonic()
        screen.start()
        while screen.running:
            _spin(0.05)
        teach_s = time.monotonic() - t1
        teach_rate = (station.outlet.counts().total - n1) / teach_s
        probe.stop()
        job = station.teaching.job
        if job.report is None:
            raise SystemExit(f"teaching did not finish: {job.error}")
    finally:
        station.teaching.stop()
        tasks.shutdown()
        station.stop()
        screen.close()
        app.processEvents()

    def lateness(st: list[float]) -> list[float]:
        return [max(0.0, d * 1000.0 - PROBE_MS) for d in np.diff(st)] if len(st) > 1 else []

    during, before = lateness(stamps), lateness(base_stamps)
    return {
        "parts_collected": parts, "input_size": input_size, "images_used": job.report.images_used,
        "teach_total_s (collect + build)": round(teach_s, 1), "build_s (hmi.inference.teach)": job.report.seconds,
        "line_parts_per_s before": round(base_rate, 1), "line_parts_per_s while teaching": round(teach_rate, 1),
        "event_loop_ms p50 before": round(_pct(before, 50), 2), "event_loop_ms p99 before": round(_pct(before, 99), 2),
        "event_loop_ms p50 while teaching": round(_pct(during, 50), 2),
        "event_loop_ms p99 while teaching": round(_pct(during, 99), 2),
        "event_loop_ms max while teaching": round(max(during), 2) if during else None,
        "probe_ticks while teaching": len(stamps),
    }


def main() -> int:
    """Print the figures as a table, with the target beside the p99."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", type=int, default=60, help="good parts to collect from the line")
    ap.add_argument("--input-size", type=int, default=256, help="model input size")
    ap.add_argument("--rate", type=float, default=20.0, help="camera trigger rate (parts per second)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = measure(Path(tmp) / "data", args.parts, args.input_size, args.rate)
    for key, value in figures.items():
        target = "   (target < 50)" if key == "event_loop_ms p99 while teaching" else ""
        print(f"{key:<38} {value}{target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
