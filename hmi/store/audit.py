"""Append-only, hash-chained audit trail: who did what, when and why; `verify` finds edits made behind our back."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from hmi.core.errors import StoreError
from hmi.core.part import utc_now
from hmi.store.database import iso_utc, open_readonly
from hmi.store.requests import OwnConnection, Writes
from hmi.store.schema import AUDIT_TRIGGERS

GENESIS_HASH = "0" * 64
_HASHED_FIELDS = ("id", "at", "user", "action", "subject", "old_value", "new_value", "reason")


class AuditAction(str, Enum):
    """What a person (or the station on their behalf) did."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    REVIEW = "review"                  # a verdict given to a HOLD part, or the automatic verdict confirmed
    OVERRIDE = "override"              # an automatic OK/NG/NOT_INSPECTED verdict changed by a person
    THRESHOLD_CHANGE = "threshold_change"
    RECIPE_CHANGE = "recipe_change"
    CAMERA_CHANGE = "camera_change"
    ALARM_ACK = "alarm_ack"
    ALARM_SHELVE = "alarm_shelve"
    USER_ADD = "user_add"
    USER_DISABLE = "user_disable"
    USER_RESET = "user_reset"
    MODEL_ACTIVATE = "model_activate"
    SIGNATURE = "signature"            # a PIN entered again to sign a change (electronic signature)
    LIGHTING_REFERENCE = "lighting_reference"
    ROI_CHANGE = "roi_change"
    DOWNSTREAM_DEFECT = "downstream_defect"  # a part reported later as a defect found downstream (missed)
    ADMIN_RECOVERY = "admin_recovery"  # an admin restored at the station's console (`hmi users recover-admin`)
    HOLD_RESTORED = "hold_restored"    # a held part put back in the review queue when the station restarted
    SETTINGS_SEALED = "settings_sealed"  # station file, recipes and users sealed as found at the first start
    SETTING_ACCEPT = "setting_accept"  # a setting changed outside the station accepted with a signature


@dataclass(frozen=True)
class AuditRequest:
    """An entry to be appended; `at` defaults to the moment it is written."""

    user: str
    action: AuditAction
    subject: str = ""
    old_value: Any = None
    new_value: Any = None
    reason: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One stored audit row with its place in the hash chain."""

    id: int
    at: str
    user: str
    action: str
    subject: str
    old_value: str | None
    new_value: str | None
    reason: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditFinding:
    """One problem `verify` found; `row_id` is the audit row concerned (None for the table as a whole)."""

    row_id: int | None
    problem: str


@dataclass(frozen=True)
class AuditReport:
    """Result of checking the audit trail: how many rows, what is wrong, and the newest link of the chain."""

    rows: int
    findings: tuple[AuditFinding, ...]
    head_id: int | None
    head_hash: str | None

    @property
    def ok(self) -> bool:
        """True when no tampering was found."""
        return not self.findings

    @property
    def row_ids(self) -> set[int]:
        """Ids of the rows named by a finding."""
        return {f.row_id for f in self.findings if f.row_id is not None}

    def text(self) -> str:
        """The result in plain words, one line per finding."""
        if self.ok:
            head = f"; newest entry {self.head_id}, hash {self.head_hash}" if self.head_id else ""
            return f"Audit trail intact: {self.rows} entries, every link of the hash chain checks out{head}."
        lines = [f"Audit trail NOT intact: {len(self.findings)} problem(s) in {self.rows} entries "
                 "— keep a copy of the database and tell the quality manager."]
        lines += [f"  {f.problem}" for f in self.findings]
        return "\n".join(lines)


def part_subject(seq: int) -> str:
    """The audit `subject` naming a part: 'part 1042'."""
    return f"part {int(seq)}"


def _text(value: Any) -> str | None:
    """Values are stored as text; structured ones as canonical JSON so they hash the same everywhere."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Enum):
        return str(value.value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """sha256 over the previous row's hash followed by the canonical JSON of this row's fields."""
    canonical = json.dumps({k: fields[k] for k in _HASHED_FIELDS}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def append_entry(conn: sqlite3.Connection, request: AuditRequest) -> AuditEntry:
    """Append one entry inside the caller's open write transaction (BEGIN IMMEDIATE holds the chain still)."""
    if not conn.in_transaction:
        raise RuntimeError("append_entry needs an open write transaction")
    action = AuditAction(request.action)
    if not request.user:
        raise ValueError("an audit entry needs the name of who acted")
    last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev_id, prev_hash = (int(last[0]), str(last[1])) if last else (0, GENESIS_HASH)
    fields = {
        "id": prev_id + 1,
        "at": iso_utc(request.at or utc_now()),
        "user": request.user,
        "action": action.value,
        "subject": request.subject or "",
        "old_value": _text(request.old_value),
        "new_value": _text(request.new_value),
        "reason": request.reason or "",
    }
    digest = entry_hash(prev_hash, fields)
    conn.execute(
        "INSERT INTO audit (id, at, user, action, subject, old_value, new_value, reason, prev_hash, hash) "
        "VALUES (:id, :at, :user, :action, :subject, :old_value, :new_value, :reason, :prev_hash, :hash)",
        {**fields, "prev_hash": prev_hash, "hash": digest})
    return AuditEntry(**fields, prev_hash=prev_hash, hash=digest)


class AuditTrail:
    """Appends audit entries through `writes` (the store thread's requests in a station, else a connection of
    its own) and reads them through a read-only connection; safe to share between threads."""

    def __init__(self, db_path: Path, *, writes: Writes | None = None) -> None:
        self._own_writes = writes is None
        self._writes: Writes = writes if writes is not None else OwnConnection(db_path)
        self._conn = open_readonly(db_path)
        self._conn.row_factory = None
        self._lock = threading.Lock()

    def append(self, user: str, action: AuditAction, subject: str = "", old_value: Any = None,
               new_value: Any = None, reason: str = "") -> AuditEntry:
        """Append one entry now and return it as stored."""
        return self.append_request(AuditRequest(user, action, subject, old_value, new_value, reason))

    def append_request(self, request: AuditRequest) -> AuditEntry:
        """Append a prepared request; StoreError in plain words when the database refuses."""
        return self._writes.run(f"the audit trail could not record '{AuditAction(request.action).value}'",
                                "free disk space or call service; the action was not recorded",
                                lambda conn: append_entry(conn, request))

    def entries(self, since_id: int = 0, limit: int = 1000) -> list[AuditEntry]:
        """Stored entries after `since_id`, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, at, user, action, subject, old_value, new_value, reason, prev_hash, hash "
                "FROM audit WHERE id > ? ORDER BY id LIMIT ?", (since_id, limit)).fetchall()
        return [AuditEntry(*r) for r in rows]

    def close(self) -> None:
        """Release the read connection (and the write connection of a tool's own)."""
        with self._lock:
            self._conn.close()
        if self._own_writes:
            self._writes.close()


def _trigger_findings(conn: sqlite3.Connection) -> list[AuditFinding]:
    present = {name: sql for name, sql in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'")}
    findings = []
    for name, expected in AUDIT_TRIGGERS.items():
        if " ".join((present.get(name) or "").split()) != " ".join(expected.split()):
            findings.append(AuditFinding(None, f"the append-only protection '{name}' has been removed or "
                                               "altered, so rows could have been changed with a database tool"))
    return findings


def _missing(first: int, last: int) -> list[AuditFinding]:
    if last - first < 20:
        return [AuditFinding(i, f"row {i} is missing: it was deleted") for i in range(first, last + 1)]
    return [AuditFinding(first, f"rows {first} to {last} are missing: they were deleted")]


def verify(db_path: Path, anchor: tuple[int, str] | None = None) -> AuditReport:
    """Check the whole chain; names every row edited, inserted with a forged hash, or removed.

    `anchor` is an (id, hash) pair noted earlier (printed on a report, say); it also catches the
    newest rows being cut off, which a chain alone cannot show.
    """
    conn = open_readonly(db_path)
    try:
        return _verify(conn, db_path, anchor)
    except sqlite3.Error as exc:
        raise StoreError(f"the audit trail in {db_path} cannot be read ({exc}): its table was altered behind "
                         "the station's back", _KEEP_A_COPY) from None
    finally:
        conn.close()


_KEEP_A_COPY = ("keep a copy of the database for the quality manager and restore the records from a backup; "
                "the file was left untouched")


def _verify(conn: sqlite3.Connection, db_path: Path, anchor: tuple[int, str] | None) -> AuditReport:
    """The chain's findings over an open read-only connection (see `verify`)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'").fetchone() is None:
        raise StoreError(f"{db_path} has no audit table: the audit trail was removed behind the station's back",
                         _KEEP_A_COPY)
    findings = _trigger_findings(conn)
    expected_id, prev_hash, prev_id = 1, GENESIS_HASH, None
    rows = 0
    for row in conn.execute(
            "SELECT id, at, user, action, subject, old_value, new_value, reason, prev_hash, hash "
            "FROM audit ORDER BY id"):
        rows += 1
        fields = {k: row[k] for k in _HASHED_FIELDS}
        rid = int(row["id"])
        gap = rid > expected_id
        if rid < expected_id:
            findings.append(AuditFinding(rid, f"row {rid} is out of sequence: it was inserted"))
        elif gap:
            findings += _missing(expected_id, rid - 1)
        if entry_hash(row["prev_hash"], fields) != row["hash"]:
            findings.append(AuditFinding(rid, f"row {rid} does not match its own hash: it was edited, "
                                              "or inserted with a forged hash"))
        elif row["prev_hash"] != prev_hash and not gap:
            before = f"row {prev_id}" if prev_id is not None else "the start of the trail"
            findings.append(AuditFinding(rid, f"row {rid} does not link to {before}: {before} was altered "
                                              f"and re-hashed, or row {rid} was inserted"))
        expected_id, prev_hash, prev_id = max(expected_id, rid + 1), row["hash"], rid
    if anchor is not None:
        findings += _anchor_findings(conn, anchor, prev_id)
    return AuditReport(rows, tuple(findings), prev_id, prev_hash if prev_id is not None else None)


def _anchor_findings(conn: sqlite3.Connection, anchor: tuple[int, str], head_id: int | None) -> list[AuditFinding]:
    anchor_id, anchor_hash = anchor
    row = conn.execute("SELECT hash FROM audit WHERE id = ?", (anchor_id,)).fetchone()
    if row is None:
        newest = head_id if head_id is not None else "nothing"
        return [AuditFinding(anchor_id, f"row {anchor_id} was recorded earlier but is gone "
                                        f"(the trail now ends at {newest}): rows were cut off")]
    if row[0] != anchor_hash:
        return [AuditFinding(anchor_id, f"row {anchor_id} no longer has the hash recorded earlier: "
                                        "the trail up to it was rewritten")]
    return []
