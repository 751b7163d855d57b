"""Screenshots of the reports screen in Plant scope, on the plant `hmi plant demo` left behind.

Usage (under a display, e.g. Xvfb):
    .venv/bin/hmi plant demo --minutes 3 --data-dir DATA
    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python tools/plant_report_screens.py --data-dir DATA --out DIR

It starts the demo's PostgreSQL again, runs demo station L1-S1 (its own data folder, [plant] as the demo set
it) with the real touchscreen window, and, by taps: logs in as the demo's quality manager, opens Reports,
taps Plant and Current, waits for the plant report and saves the window at 1920 x 1080
(DIR/reports_plant_1920x1080.png). The whole window cannot be made smaller than its largest screens need
(it says how large), so the 1280 x 800 pictures show the reports screen alone at that size, as the UI tests
do: all lines (DIR/reports_plant_1280x800.png) and this station's line (DIR/reports_plant_line_1280x800.png,
and at 1366 x 768 DIR/reports_plant_line_1366x768.png).
Everything is stopped afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main() -> int:
    """Take the screenshots."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="the folder `hmi plant demo` ran in")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("no display: run it under Xvfb (see the usage above)", file=sys.stderr)
        return 2

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from hmi.config.loader import load_station
    from hmi.plant.demo import DEMO_FOLDER, DEMO_STATIONS, QUALITY_USER, PlantDemo, prepare_touchscreen_users
    from hmi.station import build_station
    from hmi.ui.screens.reports import ReportsScreen
    from hmi.ui.shell import application
    from hmi.ui.theme import stylesheet
    from hmi.ui.window import StationWindow

    demo = PlantDemo(args.data_dir.resolve(), [], touchscreen=True)
    folder = args.data_dir.resolve() / DEMO_FOLDER
    station_id, line, rate = DEMO_STATIONS[0]
    pin = prepare_touchscreen_users(folder / station_id)
    demo.start_server()
    app = application()
    station = None
    try:
        settings = [f"station.name=Demo {station_id}", f"station.line=Line {line}", f"camera.rate_hz={rate}",
                    f"plant.database={demo.server.url('hmi', 'plant')}", f"plant.station_id={station_id}",
                    f"plant.line={line}", f"plant.password_file={demo.password_file}"]
        station = build_station(load_station(folder / station_id, settings), folder / station_id)
        station.start()
        window = StationWindow(station)
        window.resize(1920, 1080)
        window.show()
        window.start()

        def wait(condition, what: str, timeout_s: float = 60.0) -> None:
            deadline = time.monotonic() + timeout_s
            while not condition():
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out waiting for {what}")
                QTest.qWait(50)

        def tap(widget) -> None:
            QTest.mouseClick(widget, Qt.MouseButton.LeftButton)
            QTest.qWait(50)

        window.show_screen("login")
        wait(lambda: QUALITY_USER in window.login.user_buttons, "the login screen's users")
        tap(window.login.user_buttons[QUALITY_USER])
        for digit in pin:
            tap(window.login.keys[digit])
        tap(window.login.enter)
        wait(lambda: window.session.user is not None, "the login")
        tap(window.nav["reports"])
        screen = window.tools["reports"]
        tap(screen.scope_buttons["plant"])
        tap(screen.current_btn)
        wait(lambda: screen.plant_loaded is not None and not screen.plant_loading, "the plant report")
        args.out.mkdir(parents=True, exist_ok=True)
        QTest.qWait(800)
        window.refresh_slow()
        path = args.out / "reports_plant_1920x1080.png"
        window.grab().save(str(path), "PNG")
        print(f"saved {path} (the whole window)")
        print(f"the window's smallest size is {window.minimumSizeHint().width()} x "
              f"{window.minimumSizeHint().height()} (its largest screens decide it)")

        # The reports screen alone at 1280 x 800, as the UI tests show it: a second one on the same station.
        alone = ReportsScreen(window.context)
        alone.setStyleSheet(stylesheet(window.touch.px))
        alone.setFixedSize(1280, 800)  # a top-level widget would grow to its preferred size
        alone.show()
        tap(alone.scope_buttons["plant"])
        tap(alone.current_btn)
        wait(lambda: alone.plant_loaded is not None and not alone.plant_loading, "the plant report (1280 x 800)")
        QTest.qWait(800)
        path = args.out / "reports_plant_1280x800.png"
        alone.grab().save(str(path), "PNG")
        print(f"saved {path} (the reports screen alone, {alone.width()} x {alone.height()})")
        tap(alone.line_buttons["line"])
        wait(lambda: alone.plant_loaded is not None and alone.plant_loaded.line, "this line's report")
        QTest.qWait(800)
        path = args.out / "reports_plant_line_1280x800.png"
        alone.grab().save(str(path), "PNG")
        print(f"saved {path}")
        alone.setFixedSize(1366, 768)  # the other common panel, this line still chosen
        QTest.qWait(800)
        path = args.out / "reports_plant_line_1366x768.png"
        alone.grab().save(str(path), "PNG")
        print(f"saved {path}")
        alone.close()
        window.stop()
        window.close()
        app.processEvents()
    finally:
        if station is not None:
            station.stop()
        demo.server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
