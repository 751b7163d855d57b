"""`hmi run` (the touchscreen, or headless with a status line) and `hmi ui-bench`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from hmi.cli.options import command, overrides


def register(sub: argparse._SubParsersAction) -> None:
    """Register `run` and `ui-bench`."""
    run_options(command(sub, "run", cmd_run, help="run the station (the touchscreen when a display is available)"))
    ui_bench = command(sub, "ui-bench", cmd_ui_bench,
                       help="live-view refresh rate and event-loop latency with the line at full speed")
    ui_bench.add_argument("--seconds", type=float, default=10.0)


def run_options(p: argparse.ArgumentParser, top: bool = False) -> None:
    """Add the options of `hmi run` (also taken by `hmi` alone, which runs the station)."""
    def d(value):
        return value if top else argparse.SUPPRESS

    p.add_argument("--headless", action="store_true", default=d(False), help="no screens: print a live status line")
    p.add_argument("--max-parts", type=int, default=d(0), help="stop after this many parts (headless)")
    p.add_argument("--fullscreen", action="store_true", default=d(False), help="kiosk: the touchscreen fills the screen")
    p.add_argument("--quit-after", type=float, default=d(0.0), metavar="SECONDS", help="close the station after this long")
    p.add_argument("--screenshot", type=Path, default=d(None), metavar="DIR",
                   help="save one PNG per screen (live.png, review.png, ...) into DIR before quitting")


def display_available() -> bool:
    """True when a window can be shown (X11/Wayland, or a Qt platform chosen explicitly)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
                or sys.platform in ("win32", "darwin"))


def configured_station(args: argparse.Namespace, folder: Path, extra: list[str] | None = None, max_parts: int = 0,
                       accept_on_screen: bool = False):
    """The station the data folder's config (with `extra` and --set overrides) describes, not started.

    Settings changed outside the station stop it with one message, unless the screen is there to accept them.
    """
    from hmi.config.loader import load_station
    from hmi.station import build_station

    return build_station(load_station(folder, [*(extra or []), *overrides(args)]), folder, max_parts=max_parts,
                         accept_on_screen=accept_on_screen)


def cmd_run(args: argparse.Namespace, folder: Path) -> int:
    """Run the live station: the touchscreen when a display is available, else headless with a status line."""
    if not args.headless and display_available():
        return cmd_ui(args, folder)
    if not args.headless:
        print("hmi: no display found; running headless with a status line", file=sys.stderr)
    station = configured_station(args, folder, max_parts=args.max_parts)
    if station.users is not None and station.users.needs_first_admin():
        how = ("create one with 'hmi users add NAME --role admin'" if station.users.first_run_open() else
               "restore one at this console with 'hmi users recover-admin NAME --reason TEXT'")
        print(f"hmi: this station has no active admin — {how}", file=sys.stderr)
    stop = threading.Event()
    if args.quit_after:
        threading.Timer(args.quit_after, stop.set).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    station.start()
    tty = sys.stdout.isatty()
    try:
        last = 0.0
        while not stop.is_set():
            if args.max_parts and station.capture.done.is_set():
                station.wait_done(timeout_s=10)
                break
            if station.supervisor.failed():
                break
            now = time.monotonic()
            if now - last >= (0.5 if tty else 2.0):
                last = now
                print(status_line(station), end="\r" if tty else "\n", flush=True)
            stop.wait(0.05)
    except KeyboardInterrupt:
        pass
    except Exception:
        station.signal_fault()  # before stop() writes "stopped": the PLC must see the crash
        raise
    finally:
        station.stop()
    print(status_line(station), flush=True)
    failed = station.supervisor.failed()
    for h in failed:
        print(f"hmi: {h.role}: {h.error}", file=sys.stderr)
    return 1 if failed else 0


def cmd_ui(args: argparse.Namespace, folder: Path) -> int:
    """The touchscreen over the running station."""
    from hmi.ui.shell import run_station_ui

    station = configured_station(args, folder, accept_on_screen=True)
    station.start()
    try:
        return run_station_ui(station, fullscreen=args.fullscreen or station.cfg.ui.fullscreen,
                              quit_after_s=args.quit_after or 0.0, screenshot_dir=args.screenshot)
    except Exception:
        station.signal_fault()
        raise
    finally:
        station.stop()


def cmd_ui_bench(args: argparse.Namespace, folder: Path) -> int:
    """Measure the live view with the line at full speed; prints the figures."""
    if not display_available():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from hmi.ui.bench import figures_text, measure_ui

    station = configured_station(args, folder, extra=["camera.rate_hz=0"])
    station.start()
    try:
        figures = measure_ui(station, args.seconds)
    finally:
        station.stop()
    print(figures_text(figures))
    return 0


def status_line(station) -> str:
    """One line: parts/s, latency, counts per verdict, and the most urgent alarm."""
    st = station.status()
    c = st.counts
    alarm = next((a for a in st.alarms if a.active), None)
    lat = st.verdicts
    text = (f"{st.recipe} | {lat.fps:5.1f} parts/s | latency p50 {lat.latency_p50_ms:6.1f} ms p99 {lat.latency_p99_ms:6.1f} ms | "
            f"OK {c.ok} NG {c.ng} HOLD {c.hold} NOT_INSPECTED {c.not_inspected} | yield {c.yield_pct:5.1f}% | {st.backend}")
    if alarm:
        text += f" | ALARM {alarm.code}: {alarm.message}"
    return text
