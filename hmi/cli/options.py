"""What every command shares: the common options, the data folder, and how a command names its handler."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from hmi.config.paths import default_data_dir
from hmi.core.errors import StationError

Handler = Callable[[argparse.Namespace, Path], int]  # carries out one command in the data folder; returns the exit code


def common(p: argparse.ArgumentParser, top: bool = False) -> None:
    """Add --data-dir and --set to `p`."""
    # Sub-commands take the same options; SUPPRESS keeps a sub-command from resetting what came before it.
    p.add_argument("--data-dir", type=Path, default=None if top else argparse.SUPPRESS,
                   help="where the station keeps config, records and images (default: the platform's data directory)")
    p.add_argument("--set", dest="overrides", action="append", default=[] if top else argparse.SUPPRESS,
                   metavar="KEY=VALUE", help="override a station setting, e.g. --set camera.gain_db=3 (repeatable)")


def command(sub: argparse._SubParsersAction, name: str, handler: Handler | None, **kwargs) -> argparse.ArgumentParser:
    """A (sub-)command's parser with the common options, dispatching to `handler` (None: a group of sub-commands)."""
    p = sub.add_parser(name, **kwargs)
    common(p)
    if handler is not None:
        p.set_defaults(handler=handler)
    return p


def backbone_option(p: argparse.ArgumentParser, help: str, default: str | None = "float") -> None:
    """Add --backbone: the taught backbone's precision, one of those teach offers."""
    from hmi.config.schema import BACKBONES

    p.add_argument("--backbone", choices=BACKBONES, default=default, help=help)


def data_dir(args: argparse.Namespace) -> Path:
    """The data folder the command works in: --data-dir, else the platform's default."""
    return (getattr(args, "data_dir", None) or default_data_dir()).expanduser().resolve()


def read_secret(prompt: str, confirm: bool) -> str:
    """Read a PIN/password: hidden at a terminal (asked twice with `confirm`), one line from standard input otherwise."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("again: ") != first:
        raise StationError("the two entries differ", "run the command again")
    return first


def overrides(args: argparse.Namespace) -> list[str]:
    """The --set overrides given (none when the command was parsed without them)."""
    return list(getattr(args, "overrides", []) or [])


__all__ = ["Handler", "command", "common", "data_dir", "overrides", "read_secret"]
