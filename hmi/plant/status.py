"""`hmi plant status`: each station's replication lag as the plant database sees it, and this station's own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from hmi.config.loader import load_station
from hmi.core.errors import StoreError
from hmi.plant.database import connect, schema_version, server_name
from hmi.store.database import database_path, open_readonly


@dataclass(frozen=True)
class StationLag:
    """One station as the plant database knows it: when it reported last, what it had, what the plant has."""

    station_id: str
    line: str
    last_seen: datetime
    parts_in_plant: int
    plant_high_seq: int | None
    plant_high_at: datetime | None
    local_high_seq: int
    local_high_at: datetime | None
    behind: int

    @property
    def lag_s(self) -> float:
        """Seconds between the station's newest part and the newest the plant has of it (at last_seen)."""
        if self.local_high_at is None or self.behind == 0:
            return 0.0
        if self.plant_high_at is None:
            return float("nan")
        return max(0.0, (self.local_high_at - self.plant_high_at).total_seconds())


def station_lags(conn) -> list[StationLag]:
    """Every station in the plant database, by line and id."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT s.station_id, s.line, s.last_seen, s.parts_in_plant, h.seq, h.captured_at, s.local_high_seq, "
            "s.local_high_at, s.behind FROM stations s LEFT JOIN LATERAL ("
            " SELECT seq, captured_at FROM parts p WHERE p.station_id = s.station_id ORDER BY captured_at DESC LIMIT 1"
            ") h ON true ORDER BY s.line, s.station_id").fetchall()
    return [StationLag(*r) for r in rows]


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _lag_s(lag: StationLag) -> str:
    value = lag.lag_s
    return "-" if value != value else f"{value:.1f}"


def lag_table(lags: list[StationLag], now: datetime) -> list[str]:
    """The stations as text lines, one each, under a header."""
    header = (f"{'station':<16} {'line':<12} {'last seen':<14} {'parts in plant':>14} {'newest here':>11} "
              f"{'lag parts':>9} {'lag s':>7}")
    lines = [header]
    for s in lags:
        lines.append(f"{s.station_id:<16} {s.line[:12]:<12} {_ago(s.last_seen, now):<14} {s.parts_in_plant:>14} "
                     f"{s.local_high_seq:>11} {s.behind:>9} {_lag_s(s):>7}")
    return lines


def _this_station(data_dir: Path, station_id: str, lags: list[StationLag]) -> str | None:
    """This station's newest recorded part against the plant's newest of it (None when it has no records or no id)."""
    path = database_path(data_dir)
    if not station_id or not path.exists():
        return None
    try:
        conn = open_readonly(path)
    except StoreError:
        return None
    try:
        row = conn.execute("SELECT seq, captured_at FROM inspections ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    here = f"newest part here {row[0]} (captured {row[1]})" if row else "no parts recorded here yet"
    mine = next((s for s in lags if s.station_id == station_id), None)
    if mine is None or mine.plant_high_seq is None:
        there = "none of its parts in the plant yet"
    else:
        there = f"newest in the plant {mine.plant_high_seq}"
    behind = "" if row is None or mine is None else (
        " — up to date" if mine.plant_high_seq == row[0] else
        f" — {row[0] - (mine.plant_high_seq or 0)} part numbers behind")
    return f"This station ({station_id}): {here}; {there}{behind}."


def print_status(data_dir: Path, overrides: list[str]) -> int:
    """Print every station's lag (and this station's own, when it has records); StationError (exit 2) when the
    plant database is not configured or cannot be reached."""
    cfg = load_station(data_dir, overrides).plant
    with connect(cfg) as conn:
        version = schema_version(conn)
        lags = station_lags(conn) if version else []
    now = datetime.now(timezone.utc)
    count = f"{len(lags)} station" + ("" if len(lags) == 1 else "s")
    print(f"Plant database {server_name(cfg)} (schema {version}): {count}")
    if lags:
        print("\n".join(f"  {line}" for line in lag_table(lags, now)))
        print("  (lag: parts recorded at the station but not yet in the plant, and how far behind in capture "
              "time, as the station reported when last seen)")
    else:
        print("  no station has replicated to it yet")
    own = _this_station(data_dir, cfg.station_id, lags)
    if own:
        print(own)
    return 0
