"""Passwords for the plant's servers: from an environment variable or an owner-only file, never from a URL or a log."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hmi.core.errors import ConfigError


def read_secret(what: str, env_name: str, file: str) -> str | None:
    """The password for `what`: the file's first line when `file` is set, else the environment variable, else None.

    A file that others than its owner may read is refused (the password would be the whole plant's to read).
    """
    if file:
        path = Path(file).expanduser()
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the {what} password file {path}: {exc.strerror or exc}",
                              "check the path in station.toml and that the station's user owns the file") from exc
        if os.name == "posix" and stat.S_IMODE(mode) & 0o077:
            raise ConfigError(f"the {what} password file {path} can be read by other users "
                              f"(mode {stat.S_IMODE(mode):04o})", f"make it readable by the station only: chmod 600 {path}")
        lines = text.splitlines()
        return lines[0].strip() if lines else ""
    value = os.environ.get(env_name) if env_name else None
    return value if value else None


def refuse_password_in_url(what: str, url: str, env_name: str) -> None:
    """Refuse a URL that carries a password (it would end up in station.toml, backups and screenshots)."""
    if urlsplit(url).password:
        raise ConfigError(f"the {what} URL in station.toml contains a password",
                          f"remove it from the URL and give it in the environment variable {env_name} "
                          "or in an owner-only password file")


def redacted(url: str) -> str:
    """`url` fit for logs and screens: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))
