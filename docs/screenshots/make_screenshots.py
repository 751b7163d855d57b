"""Screenshots of every screen of the running demo station, for these docs.

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python docs/screenshots/make_screenshots.py docs/screenshots

Every screen is written at the common panel sizes, each at a real panel's DPI (PANELS): live_1280x800.png and
live_1366x768.png at 96 dpi (15" panels), live_1920x1080.png at 141 dpi (15.6" full HD); one demo run per DPI.

Runs the real demo station (emulated Basler camera replaying the demo frames, demo model, records in
a fresh data folder) with PLC signalling off (so the alarm zone shows its standing warning; the demo
camera's own borderline part, the tenth, waits in the review queue), creates demo users, writes three days of generated history before it starts (so the
reports and the record browser have shifts to show: hmi/bench/records.py at one part every two
seconds), and lets the touchscreen save a PNG of every screen after 20 s. Nobody logs in: the
screens show the locked state (gated screens are opened for the picture only).
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hmi.config.loader import load_recipe, load_station, save_recipe
from hmi.bench.records import generate_week
from hmi.services.reports.shifts import ShiftCalendar
from hmi.station import build_station
from hmi.store.users import Role
from hmi.ui.shell import run_station_ui

USERS = (("Anna", Role.OPERATOR), ("Ben", Role.OPERATOR), ("Chris", Role.TECHNICIAN), ("Dana", Role.QUALITY))
PANELS = ((96.0, ((1280, 800), (1366, 768))), (141.0, ((1920, 1080),)))  # (ui.panel_dpi, window sizes)


def main(out: Path, seconds: float = 20.0) -> int:
    """Run the demo once per panel DPI for `seconds` and save every screen at each size into `out`."""
    return max(shoot(out, dpi, sizes, seconds) for dpi, sizes in PANELS)


def shoot(out: Path, dpi: float, sizes, seconds: float) -> int:
    """One demo run at `dpi`: every screen at each of `sizes`."""
    data_dir = Path(tempfile.mkdtemp(prefix="hmi-shots-")) / "data"
    cfg = load_station(data_dir, [f"ui.panel_dpi={dpi}"])
    recipe = load_recipe(data_dir, cfg.station.recipe)
    recipe.thresholds.version = 9  # a changed set is a new version (the generated history holds 1 to 3)
    save_recipe(data_dir, recipe)
    calendar = ShiftCalendar(cfg.shifts)
    first = cfg.shifts.shifts[0]
    days = 3.0
    generate_week(data_dir, datetime.now(timezone.utc) - timedelta(days=days, minutes=10), rate_hz=0.5, days=days,
                  shift_names=lambda t: (calendar.containing(t) or calendar.window(t.date(), first.name)).name)
    station = build_station(cfg, data_dir)
    admin = station.users.add("admin", Role.ADMIN, "999999", None)
    for name, role in USERS:
        station.users.add(name, role, "123456", admin)
    station.start()
    try:
        return run_station_ui(station, fullscreen=False, quit_after_s=seconds, screenshot_dir=out,
                              screenshot_sizes=sizes)
    finally:
        station.stop()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent))
