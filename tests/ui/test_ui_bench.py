"""`measure_ui` on a station running at full speed: figures that prove newest-wins drawing, measured for real."""

from __future__ import annotations

import math

from hmi.ui.bench import figures_text, measure_ui


def test_ui_bench_measures_refresh_and_event_loop_latency(qtbot, station_factory):
    station = station_factory(["ok", "ng", "hold"], rate_hz=0.0)  # no trigger rate: as fast as the model goes
    station.start()
    figures = measure_ui(station, 2.0)
    station.stop()
    text = figures_text(figures)
    assert "live_draws_per_s" in text and "(target >= 20)" in text
    assert figures["seconds"] >= 1.95
    assert figures["pipeline_parts_per_s"] > figures["refresh_hz_configured"]
    # Drawn at most at the screen rate however fast parts come; the rest are skipped, never queued.
    assert 0 < figures["live_draws_per_s"] <= figures["refresh_hz_configured"] * 1.1
    assert figures["parts_not_drawn"] > 0
    assert figures["newest_lag_parts_max"] is not None and figures["newest_lag_parts_max"] < 25
    assert figures["probe_ticks"] > 50
    assert math.isfinite(figures["event_loop_latency_ms_p99"]) and figures["event_loop_latency_ms_p50"] < 50
