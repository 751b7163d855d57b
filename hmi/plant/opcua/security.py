"""The OPC UA server's own certificate (made on first start) and its logins, checked by the station's users.

A login goes to the station's user directory (the builder hands it over as OutputFeed.users), like a login
on the touchscreen: it is written to the audit trail (LOGIN, LOGIN_FAILED) and wrong PINs count towards the
station's own lock-out. At most FAILED_CHECKS_PER_MINUTE refused logins a minute are checked at all, so that
a flood of guesses cannot hold up the results.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
import time
from collections import deque
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User as UaUser
from asyncua.crypto.permission_rules import UserRole
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from hmi.core.errors import StationError
from hmi.core.part import utc_now
from hmi.pipeline.outputs import StationLogins
from hmi.pipeline.worker import JobWorker

log = logging.getLogger(__name__)

CERT_FILE = "server_cert.der"
KEY_FILE = "server_key.pem"
CERT_DAYS = 5 * 365
RENEW_BEFORE = dt.timedelta(days=30)
FAILED_CHECKS_PER_MINUTE = 20  # refused logins checked a minute at most; beyond it they are refused unchecked
LOGIN_WAIT_S = 2.0             # the longest the server's event loop waits for the station to check a login


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
    """asyncua's user manager: a login is a station user's name and PIN, checked by the station's own users;
    anonymous and certificate logins are refused.

    Every user who may log in to the station may read its results (the server offers nothing to write).
    The check runs on the login thread ("opcua logins", nice 10) through the station's user directory, so it
    is audited and counted in the station's lock-out. asyncua asks for the user inside its ActivateSession
    handling and cannot be answered later, so the server's event loop waits for the check, at most
    LOGIN_WAIT_S: a store that does not answer in time refuses the login instead of stalling the results.
    """

    def __init__(self, users: StationLogins) -> None:
        self._users = users
        self._logins = JobWorker("opcua logins", nice=10)  # started by the first login
        self._failed_at: deque[float] = deque()

    def get_user(self, iserver, username: str | None = None, password: str | None = None,
                 certificate=None) -> UaUser | None:
        """The user for a session, or None (refused). Called on the server's event loop."""
        if not username:
            log.warning("OPC UA: a login without a user name was refused (log in with a station user and PIN)")
            return None
        name = username.strip()
        if not self._may_check():
            log.warning("OPC UA: login of %r refused unchecked: more than %d refused logins in the last minute",
                        name[:64], FAILED_CHECKS_PER_MINUTE)
            return None
        secret = password or ""
        try:
            future = self._logins.submit(lambda: self._users.authenticate(name, secret))
        except RuntimeError:
            return self._refuse(name, "the server is stopping")
        try:
            user = future.result(LOGIN_WAIT_S)
        except FutureTimeout:
            future.cancel()  # if it already runs, it ends on its own (and the audit trail shows how)
            return self._refuse(name, f"the station's records did not answer within {LOGIN_WAIT_S:.0f} s; "
                                      "try again in a moment")
        except StationError as exc:  # wrong name or PIN, locked, disabled; the records not answering
            return self._refuse(name, exc.what)
        log.info("OPC UA: %s logged in", user.name)
        return UaUser(role=UserRole.User, name=user.name)

    def close(self) -> None:
        """End the login thread: checks still queued are dropped, one under way may finish (waited for briefly)."""
        if not self._logins.shutdown(LOGIN_WAIT_S + 1.0, cancel_pending=True):
            log.warning("OPC UA: the login thread did not end in time; stopping without it")

    def _may_check(self) -> bool:
        now = time.monotonic()
        while self._failed_at and now - self._failed_at[0] > 60.0:
            self._failed_at.popleft()
        return len(self._failed_at) < FAILED_CHECKS_PER_MINUTE

    def _refuse(self, name: str, why: str) -> None:
        self._failed_at.append(time.monotonic())
        log.warning("OPC UA: login of %r refused: %s", name[:64], why)
        return None
