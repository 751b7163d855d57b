"""Log lines about a failing PLC link, rate-limited: a PLC that refuses every second must not fill the log."""

from __future__ import annotations

import logging
import time

REPEAT_S = 60.0  # the same problem is logged again at most this often, with how often it recurred meanwhile


class RepeatedLog:
    """Logs a message the first time its `key` comes up, then at most once per `every_s`, saying how often it
    came up in between. Used by one thread only (the PLC thread)."""

    def __init__(self, logger: logging.Logger, every_s: float = REPEAT_S) -> None:
        self.logger = logger
        self.every_s = every_s
        self._last: dict[str, tuple[float, int]] = {}  # key -> (when last logged, times held back since)

    def log(self, level: int, key: str, msg: str, *args: object, now: float | None = None) -> bool:
        """Log `msg % args` at `level` unless `key` was logged less than `every_s` ago; True when logged."""
        now = time.monotonic() if now is None else now
        last = self._last.get(key)
        if last is not None and now - last[0] < self.every_s:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            msg += f" (and {last[1]} times more in the last {now - last[0]:.0f} s)"
        self._last[key] = (now, 0)
        self.logger.log(level, msg, *args)
        return True

    def forget(self, key: str) -> None:
        """The problem is over: the next time it comes up it is logged at once."""
        self._last.pop(key, None)
