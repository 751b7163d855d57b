"""A real PostgreSQL 16 on this machine, from the binaries the PyPI package `pgserver` bundles.

For the tests, the plant drill and `hmi plant demo`: `LocalPostgres(folder)` makes a database cluster in
`folder` once, then starts and stops it on 127.0.0.1 at a port kept in the folder, so that stations'
URLs (`postgresql://hmi@127.0.0.1:PORT/plant`) stay valid across a stop and a start. Stations log in
with a password (scram-sha-256); the superuser's own random password is kept in an owner-only file in
the folder. PostgreSQL refuses to run as root: when this process is root, the server runs as the system
user `pgserver` (made by pgserver when missing).
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path
from types import ModuleType
from typing import Self

from hmi.core.errors import StationError

SERVER_USER = "pgserver"  # the system user the server runs as when this process is root
ADMIN_USER = "postgres"
START_TIMEOUT_S = 60

_permissions_done = threading.Lock()
_permissions_ok = False


def _pgserver() -> ModuleType:
    """pgserver's helpers (its import warns about XDG_RUNTIME_DIR, which we do not use: silenced)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver.utils
    except ImportError as exc:
        raise StationError("the local PostgreSQL server needs the Python package pgserver, which is not installed",
                           "pip install pgserver") from exc
    return pgserver.utils


def _bin(program: str) -> str:
    """A program of the PostgreSQL that pgserver bundles."""
    return str(Path(_pgserver().__file__).parent / "pginstall" / "bin" / program)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalPostgres:
    """One PostgreSQL server with its data in `folder`, listening on 127.0.0.1:`port` (0: a free port, chosen once).

    `start()` makes the cluster on first use and starts the server; `stop()` stops it (the data stays);
    used as a context manager it is started on entry and stopped on exit.
    """

    def __init__(self, folder: Path | str, port: int = 0) -> None:
        self.folder = Path(folder).expanduser().resolve()
        self.pgdata = self.folder / "pgdata"
        self.log_file = self.pgdata / "server.log"
        self._admin_secret = self.folder / "admin-password"
        self._port = port
        self._started_here = False

    # --- what callers use ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The TCP port the server listens on (known once the cluster exists)."""
        if not self._port:
            self._port = self._configured_port()
        return self._port

    @property
    def running(self) -> bool:
        """True while the server runs (asks pg_ctl)."""
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        return self._pg_ctl(["status"], check=False).returncode == 0

    def url(self, user: str = "hmi", db: str = "plant") -> str:
        """A station's URL for `user` on database `db`: no password in it (that comes from the environment)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{db}"

    def admin_url(self, db: str = "postgres") -> str:
        """The superuser's URL, password included: for tests and tools on this machine, never for a station."""
        return f"postgresql://{ADMIN_USER}:{self._admin_password()}@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        """Make the cluster if it does not exist yet, then start the server (nothing to do when it runs)."""
        self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if self.running:
            return
        result = self._pg_ctl(["-w", "-t", str(START_TIMEOUT_S), "-l", str(self.log_file), "start"], check=False)
        if result.returncode != 0:
            raise StationError(f"the local PostgreSQL server in {self.folder} did not start: {self._log_tail()}",
                               f"see {self.log_file}; if port {self.port} is taken, stop what holds it")
        if not self._started_here:
            self._started_here = True
            atexit.register(self._stop_at_exit)

    def stop(self) -> None:
        """Stop the server (fast: open sessions are ended); the data stays for the next start."""
        if self.running:
            self._pg_ctl(["-w", "-t", str(START_TIMEOUT_S), "-m", "fast", "stop"], check=False)

    def restart(self) -> None:
        """Stop and start again with the same data and port."""
        self.stop()
        self.start()

    def create_role(self, user: str, password: str) -> None:
        """Make (or update) a login role with this password."""
        self._check_name(user)
        with self.admin() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            # A password cannot be a bound parameter in CREATE ROLE; psycopg quotes it as a literal.
            from psycopg import sql

            conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL(verb), sql.Identifier(user), sql.Literal(password)))

    def create_database(self, db: str, owner: str) -> None:
        """Make database `db` owned by `owner` (nothing to do when it exists)."""
        self._check_name(db)
        self._check_name(owner)
        from psycopg import sql

        with self.admin() as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
                return
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(owner)))

    def drop_database(self, db: str) -> None:
        """Drop database `db` and end its sessions (nothing to do when it does not exist)."""
        self._check_name(db)
        from psycopg import sql

        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))

    def admin(self, db: str = "postgres"):
        """A superuser connection (autocommit) to `db`; close it, or use it in a `with`."""
        import psycopg

        return psycopg.connect(self.admin_url(db), autocommit=True, connect_timeout=10)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()

    # --- the cluster ----------------------------------------------------------------------------
    def _initdb(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a cluster that never finished initdb
        self.pgdata.mkdir(mode=0o700)
        self._chown_to_server(self.pgdata)
        password = secrets.token_urlsafe(24)
        fd = os.open(self._admin_secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(password + "\n")
        with tempfile.NamedTemporaryFile("w", dir=self.folder, delete=False, encoding="utf-8") as pwfile:
            pwfile.write(password + "\n")
        self._chown_to_server(Path(pwfile.name))
        try:
            self._run([_bin("initdb"), "-D", str(self.pgdata),
                       "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--encoding=UTF8",
                       "--locale=C", "-U", ADMIN_USER, f"--pwfile={pwfile.name}"], "initdb")
        finally:
            Path(pwfile.name).unlink(missing_ok=True)
        port = self._port or _free_port()
        # TCP on loopback only, no Unix socket; fsync off: a server for tests, drills and the demo, not for keeps.
        with open(self.pgdata / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.write(f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                       "fsync = off\nmax_connections = 200\n")
        self._port = port

    def _configured_port(self) -> int:
        conf = self.pgdata / "postgresql.auto.conf"
        if conf.exists():
            found = re.findall(r"^port = (\d+)$", conf.read_text(encoding="utf-8"), re.MULTILINE)
            if found:
                return int(found[-1])
        raise StationError(f"no local PostgreSQL cluster in {self.folder} yet", "start it once first")

    def _admin_password(self) -> str:
        try:
            return self._admin_secret.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise StationError(f"the local PostgreSQL server's admin password file {self._admin_secret} is missing",
                               "start the server once (it makes the file), or delete the folder to begin anew") from exc

    @staticmethod
    def _check_name(name: str) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain PostgreSQL name: {name!r}")

    # --- processes ------------------------------------------------------------------------------
    def _pg_ctl(self, args: list[str], *, check: bool) -> subprocess.CompletedProcess:
        return self._run([_bin("pg_ctl"), "-D", str(self.pgdata), *args], "pg_ctl", check=check)

    def _run(self, argv: list[str], what: str, *, check: bool = True) -> subprocess.CompletedProcess:
        # Output goes to files, not pipes: the server inherits pg_ctl's descriptors and would hold a pipe open.
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd="/", user=self._server_user(), text=True, check=False)
            out.seek(0)
            result.stdout = out.read()
        if check and result.returncode != 0:
            raise StationError(f"{what} failed for the local PostgreSQL server in {self.folder}: "
                               f"{result.stdout.strip()[-500:]}", "see the message above; delete the folder to begin anew")
        return result

    def _log_tail(self) -> str:
        try:
            return " | ".join(self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-5:])
        except OSError:
            return "no server log"

    def _stop_at_exit(self) -> None:
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - the process is ending; a server left running is stopped by the next start
            pass

    # --- running as root ------------------------------------------------------------------------
    @staticmethod
    def _server_user() -> str | None:
        return SERVER_USER if os.name == "posix" and os.geteuid() == 0 else None

    def _chown_to_server(self, path: Path) -> None:
        user = self._server_user()
        if user:
            shutil.chown(path, user, user)

    def _prepare_permissions(self) -> None:
        """As root: the server user exists and can reach the binaries and the data folder."""
        global _permissions_ok
        if not self._server_user():
            return
        utils = _pgserver()

        self.folder.mkdir(parents=True, exist_ok=True)
        utils.ensure_prefix_permissions(self.folder)  # every folder above the data may be traversed...
        self.folder.chmod(self.folder.stat().st_mode | 0o055)  # ...and the folder itself (secrets in it are 0600)
        with _permissions_done:
            if _permissions_ok:
                return
            bin_path = Path(_bin("pg_ctl")).parent
            utils.ensure_user_exists(SERVER_USER)
            utils.ensure_prefix_permissions(bin_path)
            utils.ensure_folder_permissions(bin_path, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
            utils.ensure_folder_permissions(bin_path.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            _permissions_ok = True
