"""History of each recipe's threshold sets: every version a record names can be looked up, changes are audited."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from hmi.core.errors import StoreError
from hmi.core.part import utc_now
from hmi.store.audit import AuditAction, AuditRequest, append_entry
from hmi.store.database import iso_utc, open_readonly
from hmi.store.requests import OwnConnection, Writes
from hmi.store.users import STATION, Permission, User, acting_user

T = TypeVar("T")


@dataclass(frozen=True)
class ThresholdRecord:
    """One stored version of a recipe's thresholds."""

    recipe: str
    version: int
    values: dict[str, Any]
    created_by: str
    created_at: datetime
    reason: str


def _canonical(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), sort_keys=True, separators=(",", ":"), allow_nan=False)  # standard JSON only


def _refuse_non_finite(recipe: str, values: Mapping[str, Any]) -> None:
    """StoreError for a value that is infinite or NaN: it would pass or reject every part (and is no JSON)."""
    bad = [f"{k} = {v}" for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise StoreError(f"thresholds of recipe '{recipe}' refused: {', '.join(bad)} is not a finite number",
                         "enter finite thresholds inside the model's score range")


def _record(row: tuple) -> ThresholdRecord:
    recipe, version, values, by, at, reason = row
    return ThresholdRecord(recipe, int(version), json.loads(values), by,
                           datetime.fromisoformat(at.replace("Z", "+00:00")), reason)


_COLUMNS = 'recipe, version, "values", created_by, created_at, reason'


class ThresholdLog:
    """Records threshold-set versions per recipe; a change needs the thresholds permission and a reason.

    Versions are written through `writes` (in a station the store thread's requests, else a connection of
    its own) and read through a read-only connection.
    """

    def __init__(self, db_path: Path, *, writes: Writes | None = None) -> None:
        self._own_writes = writes is None
        self._writes: Writes = writes if writes is not None else OwnConnection(db_path)
        self._conn = open_readonly(db_path)
        self._conn.row_factory = None
        self._lock = threading.Lock()

    def record(self, recipe: str, version: int, values: Mapping[str, Any], by: User, reason: str) -> ThresholdRecord:
        """Store a new version (above every earlier one) and audit the change with its old and new values."""
        if not reason or not reason.strip():
            raise StoreError("a threshold change needs a reason", "say why the thresholds change, then apply again")
        _refuse_non_finite(recipe, values)

        def record(conn: sqlite3.Connection) -> ThresholdRecord:
            actor = acting_user(conn, by, Permission.THRESHOLDS).name
            last = self._latest(conn, recipe)
            if last is not None and version <= last.version:
                raise StoreError(f"threshold version {version} of recipe '{recipe}' is not newer than the "
                                 f"recorded version {last.version}", f"use version {last.version + 1}")
            stored = self._insert(conn, recipe, version, values, actor, reason.strip())
            append_entry(conn, AuditRequest(actor, AuditAction.THRESHOLD_CHANGE, f"recipe {recipe}",
                                            last.values if last else None,
                                            {"version": version, **dict(values)}, reason.strip()))
            return stored

        return self._write(record)

    def ensure(self, recipe: str, version: int, values: Mapping[str, Any], source: str) -> ThresholdRecord:
        """Record the version a recipe file declares if it is new; refuse one whose values were changed by hand."""
        _refuse_non_finite(recipe, values)

        def ensure(conn: sqlite3.Connection) -> ThresholdRecord:
            row = conn.execute(f"SELECT {_COLUMNS} FROM threshold_sets WHERE recipe = ? AND version = ?",
                               (recipe, int(version))).fetchone()
            if row is not None:
                known = _record(row)
                if _canonical(known.values) != _canonical(values):
                    raise StoreError(
                        f"{source} declares threshold version {version} of recipe '{recipe}' with values that "
                        f"differ from those recorded for that version ({_canonical(known.values)})",
                        "change thresholds on the station, or give the edited file a new version number")
                return known
            stored = self._insert(conn, recipe, version, values, STATION, f"loaded from {source}")
            append_entry(conn, AuditRequest(STATION, AuditAction.THRESHOLD_CHANGE, f"recipe {recipe}", None,
                                            {"version": version, **dict(values)}, f"loaded from {source}"))
            return stored

        return self._write(ensure)

    def latest(self, recipe: str) -> ThresholdRecord | None:
        """The newest version of the recipe's thresholds, or None."""
        with self._lock:
            return self._latest(self._conn, recipe)

    def history(self, recipe: str) -> list[ThresholdRecord]:
        """Every version of the recipe's thresholds, oldest first."""
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM threshold_sets WHERE recipe = ? ORDER BY version",
                                      (recipe,)).fetchall()
        return [_record(r) for r in rows]

    def close(self) -> None:
        """Release the read connection (and the write connection of a tool's own)."""
        with self._lock:
            self._conn.close()
        if self._own_writes:
            self._writes.close()

    @staticmethod
    def _latest(conn: sqlite3.Connection, recipe: str) -> ThresholdRecord | None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM threshold_sets WHERE recipe = ? ORDER BY version DESC LIMIT 1",
                           (recipe,)).fetchone()
        return _record(row) if row else None

    @staticmethod
    def _insert(conn: sqlite3.Connection, recipe: str, version: int, values: Mapping[str, Any], by: str,
                reason: str) -> ThresholdRecord:
        row = (recipe, int(version), _canonical(values), by, iso_utc(utc_now()), reason)
        conn.execute(f"INSERT INTO threshold_sets ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", row)
        return _record(row)  # as stored: millisecond timestamp, values through JSON

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` in one write transaction of the store, waiting for it; database errors become StoreError."""
        return self._writes.run("could not record the thresholds in the records database",
                                "free disk space or call service; the thresholds were not changed", work)
