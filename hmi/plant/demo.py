"""`hmi plant demo`: a local PostgreSQL and three demo stations feeding it, so a newcomer sees the plant in one command.

Everything lives in DATA_DIR/plant-demo/: the server's cluster (postgres/), the demo role's password in an
owner-only file (plant-password, never printed), and one data folder per station (L1-S1, L1-S2 on line
L1, L2-S1 on line L2), each made by the station itself on its first run. The stations are ordinary
`hmi run` processes on the built-in demo product (emulated camera, simulated PLC) with [plant] pointed at
the server, so their records reach it through the real replication. While they run, the demo prints each
station's lag every few seconds. With a display, station L1-S1 opens its touchscreen: log in as the demo's
quality manager and open Reports → Plant to see the three stations. Without one, a plant report summary is
printed every minute. Ctrl+C, --minutes, or closing the touchscreen stops the stations (each asked to stop and
waited for) and then the server.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from hmi.config.loader import load_station
from hmi.config.schema import PlantConfig
from hmi.core.errors import StationError
from hmi.plant.local_server import LocalPostgres

DEMO_FOLDER = "plant-demo"
# (station id, line, parts a second): a few parts a second each is easy on a small machine and plenty to look at.
DEMO_STATIONS = (("L1-S1", "L1", 3.0), ("L1-S2", "L1", 2.5), ("L2-S1", "L2", 2.0))
TOUCHSCREEN_STATION = "L1-S1"
ROLE, DATABASE = "hmi", "plant"
LAG_EVERY_S = 5.0
SUMMARY_EVERY_S = 60.0
STOP_WAIT_S = 30.0         # a station asked to stop gets this long to finish its records and last batch
QUALITY_USER = "quality"


@dataclass
class DemoStation:
    """One demo station: its id, line, data folder and, while it runs, its process."""

    station_id: str
    line: str
    rate_hz: float
    folder: Path
    touchscreen: bool = False
    process: subprocess.Popen | None = None

    @property
    def log_file(self) -> Path:
        """Where the station's own console output goes (the demo's terminal shows the lag lines)."""
        return self.folder / "demo-station.log"


def display_present() -> bool:
    """True when a real window can be shown (an X11 or Wayland display, not Qt's offscreen platform)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def owner_only_secret(path: Path, make) -> str:
    """The first line of the owner-only file `path`, written with `make()` when it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(make() + "\n")
    os.chmod(path, 0o600)
    return path.read_text(encoding="utf-8").splitlines()[0].strip()


def station_command(station: DemoStation, url: str, password_file: Path, tz_name: str,
                    overrides: list[str]) -> list[str]:
    """The `hmi run` command line of one demo station (headless unless it is the touchscreen one)."""
    settings = [f"station.name=Demo {station.station_id}", f"station.line=Line {station.line}",
                "station.mode=production", "station.recipe=demo", "camera.kind=emulated",
                f"camera.rate_hz={station.rate_hz:g}", "plc.mode=simulated", f"shifts.timezone={tz_name}",
                f"plant.database={url}", f"plant.station_id={station.station_id}", f"plant.line={station.line}",
                f"plant.password_file={password_file}", "plant.interval_s=1", *overrides]
    argv = [sys.executable, "-m", "hmi", "run", "--data-dir", str(station.folder)]
    if not station.touchscreen:
        argv.append("--headless")
    return argv + [a for s in settings for a in ("--set", s)]


def prepare_touchscreen_users(folder: Path) -> str:
    """Make the touchscreen station's admin and quality manager once (PINs kept owner-only); returns the latter's."""
    from hmi.store.database import database_path
    from hmi.store.users import Role, UserDirectory

    folder.mkdir(parents=True, exist_ok=True)
    admin_pin = owner_only_secret(folder / "demo-admin-pin", lambda: f"{secrets.randbelow(10**6):06d}")
    quality_pin = owner_only_secret(folder / "demo-quality-pin", lambda: f"{secrets.randbelow(10**6):06d}")
    users = UserDirectory(database_path(folder))
    try:
        if users.get(QUALITY_USER) is None:
            admin = users.get("admin") or users.add("admin", Role.ADMIN, admin_pin, None)
            users.add(QUALITY_USER, Role.QUALITY, quality_pin, admin)
    finally:
        users.close()
    return quality_pin


class PlantDemo:
    """The server, the three stations and the demo's own view of the plant; `run(minutes)` until stopped."""

    def __init__(self, data_dir: Path, overrides: list[str], *, touchscreen: bool | None = None) -> None:
        self.cfg = load_station(data_dir, overrides)  # this station's shifts and time zone frame the reports
        self.folder = Path(data_dir) / DEMO_FOLDER
        self.overrides = list(overrides)
        self.touchscreen = display_present() if touchscreen is None else touchscreen
        self.server = LocalPostgres(self.folder / "postgres")
        self.password_file = self.folder / "plant-password"
        self.stations = [DemoStation(sid, line, rate, self.folder / sid,
                                     touchscreen=self.touchscreen and sid == TOUCHSCREEN_STATION)
                         for sid, line, rate in DEMO_STATIONS]
        self.stop_requested = threading.Event()
        self.started_at = datetime.now(timezone.utc)
        self._conn = None

    @property
    def plant(self) -> PlantConfig:
        """[plant] for the demo's own reads: the demo role, its password from the owner-only file."""
        return PlantConfig(database=self.server.url(ROLE, DATABASE), station_id="plant-demo",
                           password_file=str(self.password_file), connect_timeout_s=3.0)

    # --- start and stop -----------------------------------------------------------------------------
    def start_server(self) -> None:
        """Start PostgreSQL (made on first use) with the demo role and database."""
        password = owner_only_secret(self.password_file, lambda: secrets.token_urlsafe(24))
        self.server.start()
        self.server.create_role(ROLE, password)
        self.server.create_database(DATABASE, ROLE)
        print(f"Plant database: {self.server.url(ROLE, DATABASE)} (PostgreSQL in {self.server.folder}; the "
              f"password of '{ROLE}' is in {self.password_file})", flush=True)

    def start_stations(self) -> None:
        """Start the three `hmi run` processes; their output goes to each station's demo-station.log."""
        tz_name = self.cfg.shifts.timezone
        for station in self.stations:
            station.folder.mkdir(parents=True, exist_ok=True)
            if station.touchscreen:
                pin = prepare_touchscreen_users(station.folder)
                print(f"Station {station.station_id} opens its touchscreen: log in as '{QUALITY_USER}' with PIN "
                      f"{pin}, then Reports → Plant shows the three stations.", flush=True)
            argv = station_command(station, self.server.url(ROLE, DATABASE), self.password_file, tz_name,
                                   self.overrides)
            with station.log_file.open("a", encoding="utf-8") as log:
                log.write(f"--- hmi plant demo started this station at {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S}"
                          " UTC ---\n")
                log.flush()
                # A session of its own: Ctrl+C reaches the demo only, which then stops each station once, cleanly.
                station.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                   stdin=subprocess.DEVNULL, start_new_session=True)
            print(f"Station {station.station_id} (line {station.line}) started, "
                  f"{'with its touchscreen' if station.touchscreen else 'headless'}, {station.rate_hz:g} parts/s; "
                  f"data in {station.folder}", flush=True)

    def stop_stations(self) -> None:
        """Ask every running station to stop (SIGTERM: it finishes its records and last batch), wait, then kill."""
        running = [s for s in self.stations if s.process is not None and s.process.poll() is None]
        for s in running:
            s.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        for s in running:
            try:
                s.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"Station {s.station_id} did not stop within {STOP_WAIT_S:.0f} s: ending it", flush=True)
                s.process.kill()
                s.process.wait(10)
        for s in running:
            print(f"Station {s.station_id} stopped (exit {s.process.returncode}).", flush=True)

    def close(self) -> None:
        """Stop the stations, close the demo's connection and stop the server."""
        self.stop_stations()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.server.stop()
        print("Plant database stopped; the demo's data stays in " f"{self.folder} for the next run.", flush=True)

    # --- watching ------------------------------------------------------------------------------------
    def _connection(self):
        from hmi.plant.database import connect

        if self._conn is None or self._conn.closed:
            self._conn = connect(self.plant)
        return self._conn

    def print_lag(self) -> None:
        """Each station's lag as `hmi plant status` shows it (or why it cannot be read just now)."""
        from hmi.plant.database import schema_version
        from hmi.plant.status import lag_table, station_lags

        try:
            conn = self._connection()
            with conn.transaction():
                version = schema_version(conn)
            lags = station_lags(conn) if version else []
        except StationError as exc:
            print(f"[{datetime.now():%H:%M:%S}] plant database: {exc.what}", flush=True)
            return
        except Exception as exc:  # noqa: BLE001 - a broken connection: say so, open a new one next time
            print(f"[{datetime.now():%H:%M:%S}] plant database: {str(exc).splitlines()[0] if str(exc) else exc}",
                  flush=True)
            self._conn = None
            return
        if not lags:
            print(f"[{datetime.now():%H:%M:%S}] waiting for the stations' first records to reach the plant database",
                  flush=True)
            return
        now = datetime.now(timezone.utc)
        print(f"[{datetime.now():%H:%M:%S}] " + "\n           ".join(lag_table(lags, now)), flush=True)

    def print_summary(self) -> None:
        """The plant report since the demo started, as `hmi plant report` prints it."""
        from hmi.plant.reports import load_plant_report, summary_text

        end = datetime.now(timezone.utc) + timedelta(seconds=1)
        tz_name = self.cfg.shifts.timezone
        since = self.started_at.astimezone(ZoneInfo(tz_name))
        try:
            report = load_plant_report(self.plant, self.started_at, end, tz_name=tz_name,
                                       label=f"since the demo started ({since:%Y-%m-%d %H:%M:%S})")
        except StationError as exc:
            print(f"Plant report not read: {exc}", flush=True)
            return
        print(summary_text(report), flush=True)

    def ended_station(self) -> DemoStation | None:
        """A station whose process has ended by itself (it crashed, or its touchscreen was closed)."""
        return next((s for s in self.stations if s.process is not None and s.process.poll() is not None), None)

    def run(self, minutes: float) -> int:
        """Start everything, watch until Ctrl+C / SIGTERM, `minutes` or a station's end; stop everything."""
        restore = self._stop_on_signals()
        try:
            self.start_server()
            self.started_at = datetime.now(timezone.utc)
            self.start_stations()
            print(("Ctrl+C stops the demo." if minutes <= 0 else f"The demo stops after {minutes:g} min "
                   "(Ctrl+C sooner)."), flush=True)
            ended = self._watch(minutes)
            if ended is not None:
                print(f"Station {ended.station_id} ended (exit {ended.process.returncode}); stopping the demo. "
                      f"Its output: {ended.log_file}", flush=True)
            self.stop_stations()  # first: each sends its last records, so the figures below are complete
            self.print_lag()
            self.print_summary()
            return 0 if ended is None or ended.touchscreen and ended.process.returncode == 0 else 1
        finally:
            try:
                self.close()
            finally:
                restore()

    def _watch(self, minutes: float) -> DemoStation | None:
        deadline = time.monotonic() + minutes * 60.0 if minutes > 0 else None
        next_lag = time.monotonic() + LAG_EVERY_S
        next_summary = time.monotonic() + SUMMARY_EVERY_S
        while not self.stop_requested.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            ended = self.ended_station()
            if ended is not None:
                return ended
            if now >= next_lag:
                next_lag = now + LAG_EVERY_S
                self.print_lag()
            if not self.touchscreen and now >= next_summary:
                next_summary = now + SUMMARY_EVERY_S
                self.print_summary()
            self.stop_requested.wait(0.2)
        print("Stopping the demo …", flush=True)
        return None

    def _stop_on_signals(self):
        """SIGINT (Ctrl+C) and SIGTERM stop the demo cleanly; returns a function restoring the old handlers."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in previous:
            signal.signal(s, lambda *_: self.stop_requested.set())

        def restore() -> None:
            for s, handler in previous.items():
                signal.signal(s, handler)

        return restore


def run_plant_demo(data_dir: Path, overrides: list[str], minutes: float = 0.0) -> int:
    """`hmi plant demo`: run the demo plant for `minutes` (0: until Ctrl+C); exit 0 when it ran and stopped cleanly."""
    return PlantDemo(Path(data_dir), overrides).run(minutes)
