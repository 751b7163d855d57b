"""Every button of every screen of the demo station, with its size in pixels and millimetres at the configured DPI.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/button_sizes.py [--size 1280x800] [--set ui.panel_dpi=141 ...]

Builds and starts the demo station (as `hmi run` does, in a fresh data folder), waits up to --wait seconds for
a held part (so Review shows Good/Defect), opens the window at --size, shows each screen in turn (gated screens opened for the look only) and lists its visible buttons:
P marks a primary action (at least ui.min_primary_mm), "TOO SMALL" one under its limit. Also prints the
window's minimum size. Exit code 1 when any button is too small or the window does not fit --size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtWidgets import QAbstractButton

from hmi.config.loader import load_station
from hmi.station import build_station
from hmi.ui.shell import application
from hmi.ui.touch import touch_targets
from hmi.ui.window import SCREENS, StationWindow


def main(argv: list[str] | None = None) -> int:
    """List the buttons; 1 when any is under its limit or the window's minimum size exceeds --size."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--size", default="1280x800", help="window size WIDTHxHEIGHT (default 1280x800)")
    args.add_argument("--set", action="append", default=[], help="station.toml override, e.g. ui.panel_dpi=141")
    args.add_argument("--wait", type=float, default=25.0, help="seconds to wait for a held part (default 25)")
    opts = args.parse_args(argv)
    width, height = (int(v) for v in opts.size.lower().split("x"))
    data_dir = Path(tempfile.mkdtemp(prefix="hmi-buttons-")) / "data"
    cfg = load_station(data_dir, opts.set)
    station = build_station(cfg, data_dir)
    app = application()
    window = StationWindow(station)
    window.resize(width, height)
    window.show()
    touch = window.touch
    station.start()
    window.start()
    until = time.monotonic() + opts.wait
    while not station.holds.pending() and time.monotonic() < until:
        app.processEvents()
        time.sleep(0.05)
    print(f"panel {cfg.ui.panel_dpi:g} dpi, window {width}x{height}: any target >= {touch.min_mm:g} mm "
          f"({touch.px} px), primary >= {touch.primary_mm:g} mm ({touch.primary_px} px)")
    bad = 0
    try:
        for name in SCREENS:
            window.show_screen(name, unguarded=True)
            app.processEvents()
            print(f"\n[{name}]")
            for t in touch_targets(window):
                if not isinstance(t.widget, QAbstractButton):
                    continue
                small = t.too_small(touch)
                bad += small
                words = " ".join(t.what.split())
                print(f"  {'P' if t.primary else ' '} {t.width:4d}x{t.height:<4d} px  {touch.mm(t.width):5.1f}x"
                      f"{touch.mm(t.height):<5.1f} mm  {words[:70]}{'  TOO SMALL' if small else ''}")
        hint = window.unscrolled_minimum()
        fits = hint.width() <= width and hint.height() <= height
        print(f"\nwindow minimum size {hint.width()}x{hint.height()}: {'fits' if fits else 'DOES NOT FIT'} "
              f"{width}x{height}; {bad} button(s) too small")
        if not fits:
            window.resize(width, height)
            app.processEvents()
            print(f"at {width}x{height} these screens scroll (every control stays reachable): "
                  f"{', '.join(window.scrolling_screens()) or 'none'}")
    finally:
        window.stop()
        station.stop()
    return 0 if fits and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
