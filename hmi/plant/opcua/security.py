"""The OPC UA server's own certificate (made on first start) and its logins, checked against the station's users.

Logins are checked read-only: the hash in the records' users table (argon2), the user's active flag and
lock-out. This thread holds no way to the store thread's request queue, so a login over OPC UA is neither
audited nor counted towards the station's own lock-out; instead the server keeps its own count in memory
(MAX_FAILURES wrong PINs lock the name here for LOCKOUT) and checks at most FAILED_CHECKS_PER_MINUTE wrong
logins a minute, so that a flood of guesses cannot hold up the results.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
import stat
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User as UaUser
from asyncua.crypto.permission_rules import UserRole
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from hmi.core.errors import StationError
from hmi.core.part import utc_now
from hmi.store.database import open_readonly
from hmi.store.users import LOCKOUT, MAX_FAILURES

log = logging.getLogger(__name__)

CERT_FILE = "server_cert.der"
KEY_FILE = "server_key.pem"
CERT_DAYS = 5 * 365
RENEW_BEFORE = dt.timedelta(days=30)
FAILED_CHECKS_PER_MINUTE = 20


def opcua_folder(data_dir: Path) -> Path:
    """Where the server's certificate and key live: DATA_DIR/opcua."""
    return Path(data_dir) / "opcua"


@dataclass(frozen=True)
class ServerIdentity:
    """The server's certificate (DER), private key (PEM) and the application URI the certificate names."""

    certificate: bytes
    private_key: bytes
    application_uri: str
    certificate_path: Path


def server_identity(data_dir: Path, hostname: str) -> ServerIdentity:
    """The station's certificate and key, made in DATA_DIR/opcua on first start and renewed before they expire.

    The key file is the station's alone (mode 0600). StationError when the folder cannot be written.
    """
    folder = opcua_folder(data_dir)
    key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = _load_key(key_path) or _new_key(key_path)
        cert = _load_cert(cert_path)
        uri = _uri_of(cert) if cert is not None else ""
        if cert is None or not uri or _renew(cert, key):
            uri = uri or f"urn:{hostname}:hmi-inspection-station"
            cert = cert_gen.generate_self_signed_app_certificate(
                key, f"hmi-inspection-station@{hostname}", {},
                [x509.UniformResourceIdentifier(uri), x509.DNSName(hostname)],
                extended=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], days=CERT_DAYS)
            _write(cert_path, cert.public_bytes(serialization.Encoding.DER), 0o644)
            log.warning("OPC UA: new server certificate %s (valid until %s); clients must trust it once",
                        cert_path, cert.not_valid_after_utc.date())
        key_pem = cert_gen.dump_private_key_as_pem(key)
    except OSError as exc:
        raise StationError(f"cannot keep the OPC UA certificate in {folder} ({exc.strerror or exc})",
                           "check that the station's user may write its data folder") from exc
    return ServerIdentity(cert.public_bytes(serialization.Encoding.DER), key_pem, uri, cert_path)


def _load_key(path: Path) -> rsa.RSAPrivateKey | None:
    if not path.exists():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("OPC UA: the server key %s could be read by other users (mode %04o); made owner-only", path, mode)
        os.chmod(path, 0o600)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        log.warning("OPC UA: the server key %s cannot be read; a new key and certificate are made", path)
        return None
    return key if isinstance(key, rsa.RSAPrivateKey) else None


def _new_key(path: Path) -> rsa.RSAPrivateKey:
    key = cert_gen.generate_private_key()
    _write(path, cert_gen.dump_private_key_as_pem(key), 0o600)
    return key


def _load_cert(path: Path) -> x509.Certificate | None:
    if not path.exists():
        return None
    try:
        return x509.load_der_x509_certificate(path.read_bytes())
    except ValueError:
        return None


def _uri_of(cert: x509.Certificate) -> str:
    try:
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        return ""
    return uris[0] if uris else ""


def _renew(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    """True when the certificate expires soon or was not made for this key."""
    mine = key.public_key().public_numbers() == cert.public_key().public_numbers()
    return not mine or cert.not_valid_after_utc - utc_now() < RENEW_BEFORE


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` with `mode` from the first byte on (never readable by others in between)."""
    tmp = path.with_suffix(path.suffix + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class StationUsers:
    """asyncua's user manager: a login is a station user's name and PIN; anonymous and certificate logins are refused.

    Every user who may log in to the station may read its results (the server offers nothing to write).
    """

    def __init__(self, db_path: Path, hasher: PasswordHasher | None = None) -> None:
        self._conn: sqlite3.Connection = open_readonly(db_path)
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash("not a user of this station")
        self._failures: dict[str, int] = {}
        self._locked: dict[str, dt.datetime] = {}
        self._failed_at: deque[float] = deque()
        if not self._conn.execute("SELECT count(*) FROM users WHERE active = 1").fetchone()[0]:
            log.warning("OPC UA: the station has no users yet, so nobody can log in to its OPC UA server; add the "
                        "first admin (hmi users add NAME --role admin), then a user for the MES")

    def get_user(self, iserver, username: str | None = None, password: str | None = None,
                 certificate=None) -> UaUser | None:
        """The user for a session, or None (refused). Called on the server's event loop."""
        if not username:
            log.warning("OPC UA: a login without a user name was refused (log in with a station user and PIN)")
            return None
        name = username.strip()
        if not self._may_check():
            log.warning("OPC UA: login of %r refused unchecked: more than %d wrong logins in the last minute",
                        name[:64], FAILED_CHECKS_PER_MINUTE)
            return None
        row = self._conn.execute("SELECT name, active, locked_until, secret_hash FROM users WHERE name = ?",
                                 (name,)).fetchone()
        if row is None:
            self._verify(self._dummy, password)  # as long as for a real user: names cannot be probed by timing
            return self._refuse(name[:64], "unknown user", count=False)
        name, active, locked_until, digest = row
        until = max(filter(None, [_parse(locked_until), self._locked.get(name)]), default=None)
        if until is not None and until > utc_now():
            return self._refuse(name, f"locked until {until:%H:%M:%S} UTC", count=False)
        if not self._verify(digest, password):
            return self._refuse(name, "wrong PIN", count=True)
        if not active:
            return self._refuse(name, "user disabled", count=False)
        self._failures.pop(name, None)
        log.info("OPC UA: %s logged in", name)
        return UaUser(role=UserRole.User, name=name)

    def close(self) -> None:
        """Release the read-only connection."""
        self._conn.close()

    def _may_check(self) -> bool:
        now = time.monotonic()
        while self._failed_at and now - self._failed_at[0] > 60.0:
            self._failed_at.popleft()
        return len(self._failed_at) < FAILED_CHECKS_PER_MINUTE

    def _verify(self, digest: str, secret: str | None) -> bool:
        try:
            return self._hasher.verify(digest, secret or "")
        except (VerificationError, InvalidHashError):
            return False

    def _refuse(self, name: str, why: str, *, count: bool) -> None:
        self._failed_at.append(time.monotonic())
        if count:
            failures = self._failures.get(name, 0) + 1
            if failures >= MAX_FAILURES:
                self._locked[name] = utc_now() + LOCKOUT
                self._failures.pop(name, None)
                why += f" ({failures} of {MAX_FAILURES}); locked for OPC UA for {LOCKOUT.seconds // 60} minutes"
            else:
                self._failures[name] = failures
                why += f" ({failures} of {MAX_FAILURES})"
        log.warning("OPC UA: login of %r refused: %s", name, why)
        return None


def _parse(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
