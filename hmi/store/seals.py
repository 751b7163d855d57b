"""Seals of what decides a verdict: the SHA-256 of each sealed thing's content as the station last wrote or accepted it.

A seal is one row of the `seals` table (written only through the store's writer): the subject ('station.toml',
'recipe NAME', 'users'), the hash, and the content itself, so a change found later can be shown key by key.
The users table is sealed here too, over what decides who may do what (name, role, PIN hash, active); every
write of `UserDirectory` keeps that seal (`keep_users_sealed`), a direct SQL change does not.

A hash kept in the same file is no signature: who can write the database can write a matching seal. It makes
a change behind the station's back visible (and refused until accepted); it does not stop someone who owns
the data folder (docs/seals.md).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hmi.core.part import utc_now
from hmi.store.audit import AuditAction, AuditRequest, append_entry
from hmi.store.database import iso_utc, open_readonly
from hmi.store.requests import OwnConnection, Writes

T = TypeVar("T")

USERS = "users"  # the users table's subject
PIN_KEY = "pin"  # a user's sealed PIN hash: shown as 'changed', never as text


@dataclass(frozen=True)
class Seal:
    """One sealed subject: its hash, the content sealed, and when, by whom, after which audit entry."""

    subject: str
    sha256: str
    content: dict[str, Any]
    sealed_at: str
    sealed_by: str
    audit_id: int


def canonical(content: Mapping[str, Any]) -> str:
    """The content as one canonical JSON text (sorted keys): what the seal hashes."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(content: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the content's canonical text."""
    return hashlib.sha256(canonical(content).encode("utf-8")).hexdigest()


def users_content(conn: sqlite3.Connection) -> dict[str, Any]:
    """What the users seal covers: each user's role, whether active, and PIN hash, by name."""
    rows = conn.execute("SELECT name, role, secret_hash, active FROM users ORDER BY name COLLATE NOCASE").fetchall()
    return {name: {"role": role, PIN_KEY: secret, "active": bool(active)} for name, role, secret, active in rows}


def _seal(row: tuple) -> Seal:
    subject, sha, content, at, by, audit_id = row
    return Seal(subject, sha, json.loads(content), at, by, int(audit_id))


def _stored(conn: sqlite3.Connection, subject: str) -> Seal | None:
    row = conn.execute("SELECT subject, sha256, content, sealed_at, sealed_by, audit_id FROM seals WHERE subject = ?",
                       (subject,)).fetchone()
    return _seal(row) if row else None


def write_seal(conn: sqlite3.Connection, subject: str, content: Mapping[str, Any] | None, by: str) -> None:
    """Seal `content` as `subject` in the caller's write transaction (None: forget the subject's seal)."""
    if content is None:
        conn.execute("DELETE FROM seals WHERE subject = ?", (subject,))
        return
    head = conn.execute("SELECT coalesce(max(id), 0) FROM audit").fetchone()[0]
    conn.execute("INSERT OR REPLACE INTO seals (subject, sha256, content, sealed_at, sealed_by, audit_id) "
                 "VALUES (?, ?, ?, ?, ?, ?)", (subject, digest(content), canonical(content), iso_utc(utc_now()),
                                               by, head))


def keep_users_sealed(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T], by: str) -> T:
    """Run `work` (a change of users made by the station) and seal the users table it leaves.

    Only a seal that held before `work` is renewed: a table changed behind the station's back stays unsealed
    (to be accepted with a signature) whatever the station writes afterwards. Before the first seal, nothing.
    """
    before = _stored(conn, USERS)
    held = before is not None and before.sha256 == digest(users_content(conn))
    result = work(conn)
    if held:
        after = users_content(conn)
        if digest(after) != before.sha256:
            write_seal(conn, USERS, after, by)
    return result


def sealed_secret_matches(sealed_user: Mapping[str, Any], secret: str) -> bool:
    """True when `secret` is the PIN whose hash the seal holds for that user."""
    try:
        return PasswordHasher().verify(str(sealed_user.get(PIN_KEY, "")), secret or "")
    except (VerificationError, InvalidHashError):
        return False


class SealBook:
    """The station's seals: read through a read-only connection, written through `writes` (the store's writer;
    without it, a connection of its own opened at the first write)."""

    def __init__(self, db_path: Path, *, writes: Writes | None = None) -> None:
        self._db_path = db_path
        self._writes: Writes | None = writes
        self._own_writes: OwnConnection | None = None
        self._conn = open_readonly(db_path)
        self._conn.row_factory = None
        self._lock = threading.Lock()

    def seals(self) -> dict[str, Seal]:
        """Every seal, by subject."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT subject, sha256, content, sealed_at, sealed_by, audit_id FROM seals").fetchall()
        return {row[0]: _seal(row) for row in rows}

    def ever_sealed(self) -> bool:
        """True once the station has sealed anything (a seal exists, or the audit trail says one was made)."""
        with self._lock:
            row = self._conn.execute("SELECT EXISTS (SELECT 1 FROM seals) OR EXISTS (SELECT 1 FROM audit WHERE "
                                     "action IN (?, ?))", (AuditAction.SETTINGS_SEALED.value,
                                                           AuditAction.SETTING_ACCEPT.value)).fetchone()
        return bool(row[0])

    def users_now(self) -> dict[str, Any]:
        """The users table's sealed columns as they are now."""
        with self._lock:
            return users_content(self._conn)

    def recovered_since(self, name: str, audit_id: int) -> bool:
        """True when `name` was restored at the console (`hmi users recover-admin`) after audit entry `audit_id`."""
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM audit WHERE action = ? AND subject = ? COLLATE NOCASE AND id > ?",
                                     (AuditAction.ADMIN_RECOVERY.value, name, audit_id)).fetchone()
        return row is not None

    def seal(self, contents: Mapping[str, Mapping[str, Any] | None], by: str,
             audit: tuple[AuditRequest, ...] = ()) -> None:
        """Seal each subject's content (None: forget it) and append `audit`, all in one write transaction.

        The users table is sealed as the transaction reads it (its content in `contents` is ignored).
        """
        def work(conn: sqlite3.Connection) -> None:
            for entry in audit:
                append_entry(conn, entry)
            for subject, content in contents.items():
                write_seal(conn, subject, users_content(conn) if subject == USERS else content, by)

        if self._writes is None:
            self._writes = self._own_writes = OwnConnection(self._db_path)
        self._writes.run("could not record the settings' seals in the records database",
                         "free disk space or call service; nothing was accepted", work)

    def close(self) -> None:
        """Release the read connection (and the write connection of a tool's own)."""
        with self._lock:
            self._conn.close()
        if self._own_writes is not None:
            self._own_writes.close()


__all__ = ["PIN_KEY", "USERS", "Seal", "SealBook", "canonical", "digest", "keep_users_sealed",
           "sealed_secret_matches", "users_content", "write_seal"]
