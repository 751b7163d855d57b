"""The `hmi` command line: one module per group of commands, dispatched from the table in `hmi.cli.entry`."""

from hmi.cli.entry import main

__all__ = ["main"]
