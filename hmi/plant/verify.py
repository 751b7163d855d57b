"""`hmi plant verify`: each station's audit hash chain recomputed from the plant database alone.

The plant keeps every audit row with the exact text the station hashed (`at_text` and the values as text),
so the station's own rule (hmi.store.audit.entry_hash) recomputes each link without the station's SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hmi.config.loader import load_station
from hmi.core.errors import ConfigError
from hmi.plant.database import connect, server_name
from hmi.store.audit import GENESIS_HASH, entry_hash

_HASHED = ("id", "at", "user", "action", "subject", "old_value", "new_value", "reason")


@dataclass(frozen=True)
class ChainCheck:
    """One station's audit chain in the plant: how many entries, the ids it spans, and the first break if any."""

    station_id: str
    entries: int
    first_id: int | None
    last_id: int | None
    broken_id: int | None = None
    why: str = ""

    @property
    def ok(self) -> bool:
        """True when every link checks out."""
        return self.broken_id is None

    def line(self) -> str:
        """The result in one line of plain words."""
        span = f", ids {self.first_id}–{self.last_id}" if self.entries else ""
        head = f"{self.station_id:<16} {self.entries} entries{span}"
        if self.ok:
            return f"{head}: OK" if self.entries else f"{head}: OK (nothing recorded yet)"
        return f"{head}: NOT OK — first broken at id {self.broken_id}: {self.why}"


def check_chain(conn, station_id: str) -> ChainCheck:
    """Recompute `station_id`'s chain in id order; stops at the first row that does not check out."""
    entries, first_id, prev_id, prev_hash = 0, None, None, GENESIS_HASH
    # A server-side cursor (in a transaction of its own): a year of entries streams instead of filling memory.
    with conn.transaction(), conn.cursor(name="audit_chain") as cur:
        cur.itersize = 5000
        cur.execute('SELECT id, at_text, "user", action, subject, old_value, new_value, reason, prev_hash, hash '
                    "FROM audit WHERE station_id = %s ORDER BY id", (station_id,))
        for row in cur:
            rid = int(row[0])
            entries += 1
            first_id = rid if first_id is None else first_id
            expected = 1 if prev_id is None else prev_id + 1
            broken = None
            if rid != expected:
                missing = f"id {expected}" if rid == expected + 1 else f"ids {expected}–{rid - 1}"
                broken = f"a gap in the ids: {missing} missing (deleted, or never sent)"
            elif entry_hash(row[8], dict(zip(_HASHED, row[:8]))) != row[9]:
                broken = "the row was changed after the station wrote it (its hash does not match its contents)"
            elif row[8] != prev_hash:
                before = f"id {prev_id}" if prev_id is not None else "the start of the trail"
                broken = f"it does not link to {before} ({before} was changed and re-hashed, or this row inserted)"
            if broken:
                return ChainCheck(station_id, entries, first_id, rid, rid, broken)
            prev_id, prev_hash = rid, row[9]
    return ChainCheck(station_id, entries, first_id, prev_id)


def verify_plant(conn, station: str | None = None) -> list[ChainCheck]:
    """Every station's chain (or only `station`'s), in station order."""
    with conn.transaction():
        ids = [s for (s,) in conn.execute("SELECT station_id FROM stations ORDER BY station_id").fetchall()]
    if station is not None:
        if station not in ids:
            raise ConfigError(f"the plant database knows no station '{station}'",
                              "check the id: `hmi plant status` lists the stations")
        ids = [station]
    return [check_chain(conn, s) for s in ids]


def print_verification(data_dir: Path, overrides: list[str], station: str | None = None) -> int:
    """Print each station's audit chain check; 0 when all verify, 1 when one is broken (2: plant not reachable)."""
    cfg = load_station(data_dir, overrides).plant
    with connect(cfg) as conn:
        checks = verify_plant(conn, station)
    print(f"Audit trails in the plant database {server_name(cfg)}, recomputed from PostgreSQL alone:")
    if not checks:
        print("  no station has replicated to it yet")
    for check in checks:
        print(f"  {check.line()}")
    broken = [c.station_id for c in checks if not c.ok]
    if broken:
        print(f"NOT intact: {', '.join(broken)} — keep a copy of the plant database and tell the quality manager; "
              "each station's own records (`hmi audit verify` there) show which side was changed.")
        return 1
    return 0
