"""`hmi ui-bench`: how the live view keeps up while the pipeline runs at full speed.

Measures, on the real window: frames drawn per second and how stale each drawn part is (no
backlog = the drawn part is always the newest there was at the tick, and its age does not grow),
and the event loop's latency as the lateness of a 5 ms timer.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QEventLoop, Qt, QTimer

from hmi.core.part import Part
from hmi.ui.port import StationPort
from hmi.ui.shell import SCREENSHOT_SIZE, application
from hmi.ui.window import StationWindow

PROBE_MS = 5
WARM_UP_S = 1.0


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def measure_ui(station: StationPort, seconds: float) -> dict:
    """Run the live screen for `seconds` (after a 1 s warm-up) on a running station; return the figures.

    The caller starts the station (at full speed: no trigger rate) before and stops it after.
    """
    if seconds <= 0:
        raise ValueError("measure for a positive number of seconds")
    app = application()
    window = StationWindow(station)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    window.start()
    draws: list[tuple[float, int, int, float]] = []  # (time, drawn version, newest version after the draw, age ms)
    stamps: list[float] = []
    measuring = {"on": False}

    def on_draw(version: int, part: Part, now: float) -> None:
        if measuring["on"]:
            newest, _ = station.newest.peek()
            decided = part.decision.decided_mono if part.decision else part.captured_mono
            draws.append((now, version, newest, (now - decided) * 1000.0))

    def on_probe() -> None:
        if measuring["on"]:
            stamps.append(time.perf_counter())

    window.live.draw_listeners.append(on_draw)
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(PROBE_MS)
    probe.timeout.connect(on_probe)
    probe.start()
    loop = QEventLoop()
    _run(loop, WARM_UP_S)
    parts_before, t0 = station.outlet.counts().total, time.monotonic()
    version_before = station.newest.peek()[0]
    measuring["on"] = True
    _run(loop, seconds)
    measuring["on"] = False
    elapsed = time.monotonic() - t0
    parts = station.outlet.counts().total - parts_before
    versions = station.newest.peek()[0] - version_before
    probe.stop()
    window.stop()
    window.close()
    window.deleteLater()
    app.processEvents()

    lateness = [max(0.0, d * 1000.0 - PROBE_MS) for d in np.diff(stamps)] if len(stamps) > 1 else []
    ages = [d[3] for d in draws]
    lags = [d[2] - d[1] for d in draws]
    third = max(1, len(ages) // 3)
    trend = (float(np.median(ages[-third:])) - float(np.median(ages[:third]))) if len(ages) >= 3 else float("nan")
    return {
        "seconds": round(elapsed, 2),
        "refresh_hz_configured": station.cfg.ui.refresh_hz,
        "pipeline_parts_per_s": round(parts / elapsed, 1),
        "live_draws_per_s": round(len(draws) / elapsed, 1),
        "parts_not_drawn": max(0, versions - len(draws)),
        "newest_lag_parts_p99": _pct(lags, 99),
        "newest_lag_parts_max": max(lags) if lags else None,
        "display_age_ms_p50": round(_pct(ages, 50), 1),
        "display_age_ms_p99": round(_pct(ages, 99), 1),
        "display_age_trend_ms": round(trend, 1),
        "event_loop_latency_ms_p50": round(_pct(lateness, 50), 2),
        "event_loop_latency_ms_p99": round(_pct(lateness, 99), 2),
        "event_loop_latency_ms_max": round(max(lateness), 2) if lateness else None,
        "probe_ticks": len(stamps),
    }


def _run(loop: QEventLoop, seconds: float) -> None:
    stop = QTimer()
    stop.setSingleShot(True)
    stop.setTimerType(Qt.TimerType.PreciseTimer)
    stop.timeout.connect(loop.quit)
    stop.start(round(seconds * 1000))
    loop.exec()


def figures_text(figures: dict) -> str:
    """The figures as aligned lines, with the targets beside them."""
    targets = {"live_draws_per_s": ">= 20", "event_loop_latency_ms_p99": "< 50",
               "display_age_trend_ms": "~0 (no backlog)"}
    return "\n".join(f"{k:<28} {v}" + (f"   (target {targets[k]})" if k in targets else "") for k, v in figures.items())
