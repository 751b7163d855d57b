"""The station's log files and its crash handler.

Logs: DATA_DIR/logs/hmi.log, rotated (5 files of 5 MB by default), one line per event with UTC time,
thread, level, logger and message; the console shows warnings and errors only. Nothing here logs a
PIN or a password, and callers must not pass one in a message.

Crashes: an exception nobody caught, in the main thread or any other, writes DATA_DIR/crash/
crash-<UTC>.txt (traceback, version, configuration summary), logs it, and calls the registered
fault callbacks, so that the PLC sees the station in fault (state 2) instead of a silent heartbeat.
A crash of the main thread then ends the process with exit code 70, for the service manager to
restart it (unless the main thread runs an event loop that survives it, see `exit_after_main_crash`);
a crash of another thread leaves the process running, in fault.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import platform
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from hmi import __version__

LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(threadName)s %(levelname)s %(name)s: %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
LOG_FILE_BYTES = 5 * 1024 * 1024
LOG_FILE_COUNT = 5
EXIT_CRASHED = 70  # EX_SOFTWARE: the service manager restarts the station
# Libraries whose INFO lines (every S7 connect/disconnect, every OPC UA request) would drown the station's own events.
CHATTY_LIBRARIES = ("snap7", "asyncua")
# Settings whose values never go into a crash report (matched against the dotted key).
SECRET_WORDS = ("password", "pin", "secret", "token", "key")

log = logging.getLogger("hmi.crash")

_installed: "CrashHandler | None" = None


class _UtcFormatter(logging.Formatter):
    converter = time.gmtime


class _OneLine(_UtcFormatter):
    """Keeps one event on one line: newlines in a message or traceback are escaped."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "").replace("\n", " | ")


class _PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """A rotating log file readable by the station's account only (0600 on POSIX), also after each rotation."""

    _failing = False      # the file could not be written (a full disk): said once, not with a traceback per line
    _just_failed = False

    def _open(self):
        stream = super()._open()
        if os.name == "posix":
            os.chmod(self.baseFilename, 0o600)
        return stream

    def emit(self, record: logging.LogRecord) -> None:
        """Write the line; a line written after a failure ends it."""
        self._just_failed = False
        super().emit(record)
        if not self._just_failed:
            self._failing = False

    def handleError(self, record: logging.LogRecord) -> None:
        """A file the disk has no room for is said once on stderr; other errors as logging says them."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            super().handleError(record)
            return
        self._just_failed = True
        if not self._failing:
            self._failing = True
            sys.stderr.write(f"hmi: the log file {self.baseFilename} cannot be written ({exc.strerror or exc}); "
                             "log lines are lost until it can\n")


def logs_dir(data_dir: Path) -> Path:
    """Folder of the station's log files."""
    return Path(data_dir) / "logs"


def crash_dir(data_dir: Path) -> Path:
    """Folder of the crash reports."""
    return Path(data_dir) / "crash"


def setup_logging(data_dir: Path, *, console_level: str = "WARNING", file_level: str = "INFO",
                  max_bytes: int = LOG_FILE_BYTES, backups: int = LOG_FILE_COUNT) -> Path:
    """Send the station's log to rotating files under DATA_DIR/logs and warnings to the console.

    Replaces handlers an earlier call installed, so it may be called again (tests, a second command).
    Returns the log file's path. A log folder that cannot be written leaves the console only, with a warning.
    """
    close_logging()
    root = logging.getLogger()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level.upper())
    console.setFormatter(_UtcFormatter(LOG_FORMAT, LOG_DATE_FORMAT))
    # A message already printed to the person in plain words goes to the file only (extra={"file_only": True}).
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    handlers: list[logging.Handler] = [console]
    path = logs_dir(data_dir) / "hmi.log"
    problem = ""
    try:
        Path(data_dir).mkdir(mode=0o700, parents=True, exist_ok=True)  # the data folder and its logs: owner-only
        path.parent.mkdir(mode=0o700, exist_ok=True)
        file = _PrivateRotatingFile(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        file.setLevel(file_level.upper())
        file.setFormatter(_OneLine(LOG_FORMAT, LOG_DATE_FORMAT))
        handlers.append(file)
    except OSError as exc:
        problem = f"cannot write the log file {path} ({exc}); logging to the console only — check the folder's permissions"
    for h in handlers:
        h._hmi_handler = True  # type: ignore[attr-defined]
        root.addHandler(h)
    root.setLevel(min(h.level for h in handlers))
    quiet = logging.WARNING if logging.getLevelName(file_level.upper()) != logging.DEBUG else logging.NOTSET
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
    if problem:
        logging.getLogger("hmi").warning(problem)
    return path


def close_logging() -> None:
    """Remove and close the handlers `setup_logging` installed (the end of a command run in-process)."""
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET)
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_hmi_handler", False)]
    for h in ours:
        root.removeHandler(h)
        try:
            h.close()
        except OSError:  # the last lines could not be flushed (a full disk): nothing more to do about them
            pass
    if ours:
        root.setLevel(logging.WARNING)  # Python's default, as before setup_logging


def config_summary(settings: dict, prefix: str = "") -> list[str]:
    """`key = value` lines of a (nested) settings dict, with secret-looking values left out."""
    lines: list[str] = []
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            lines += config_summary(value, name + ".")
        elif any(word in key.lower() for word in SECRET_WORDS):
            lines.append(f"{name} = <not recorded>")
        else:
            lines.append(f"{name} = {value!r}")
    return lines


class CrashHandler:
    """Writes a crash report for every uncaught exception and tells the registered callbacks (the PLC)."""

    def __init__(self, data_dir: Path, summary: Callable[[], dict] | None = None, *,
                 exit_after_main_crash: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.summary = summary
        # False where the main thread runs an event loop that survives an exception (Qt calls
        # sys.excepthook for an exception in a slot and carries on): report, fault, keep running.
        self.exit_after_main_crash = exit_after_main_crash
        self._callbacks: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self._previous: tuple | None = None
        self.reports: list[Path] = []

    def add_fault_callback(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call `callback` after a crash; returns a function that removes it again."""
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)
        return remove

    def install(self) -> "CrashHandler":
        """Become sys.excepthook and threading.excepthook (the one installed handler)."""
        global _installed
        if self._previous is None:
            self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self._main_hook
        threading.excepthook = self._thread_hook
        _installed = self
        return self

    def uninstall(self) -> None:
        """Give the hooks back to what was there before `install`."""
        global _installed
        if self._previous is not None:
            sys.excepthook, threading.excepthook = self._previous
            self._previous = None
        if _installed is self:
            _installed = None

    def _main_hook(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        self.report(exc_type, exc, tb, threading.current_thread().name)
        if not self.exit_after_main_crash:
            return
        # The main thread is gone: end the process now, with the fault on the PLC and the records committed.
        # A normal interpreter exit would tear pylon and ONNX Runtime down under their running threads
        # (measured: "terminate called without an active exception", SIGABRT).
        logging.shutdown()
        sys.stderr.flush()
        os._exit(EXIT_CRASHED)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "unknown thread"
        self.report(args.exc_type, args.exc_value, args.exc_traceback, name)

    def report(self, exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None,
               thread: str) -> Path | None:
        """Write the crash file, log it, tell the callbacks; returns the file (None if it could not be written)."""
        now = datetime.now(timezone.utc)
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        lines = [f"hmi {__version__} crashed at {now.isoformat(timespec='milliseconds')} in thread '{thread}'",
                 f"python {platform.python_version()} on {platform.platform()}",
                 f"frozen: {bool(getattr(sys, 'frozen', False))}", f"data directory: {self.data_dir}", "",
                 text]
        if self.summary is not None:
            try:
                lines += ["configuration:", *config_summary(self.summary())]
            except Exception as problem:  # a broken config must not hide the crash itself
                lines.append(f"configuration: could not be read ({problem})")
        path: Path | None = crash_dir(self.data_dir) / f"crash-{now.strftime('%Y%m%dT%H%M%S_%fZ')}.txt"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            self.reports.append(path)
        except OSError as problem:
            log.error("could not write the crash report %s: %s", path, problem)
            path = None
        log.critical("unhandled %s in thread '%s': %s — crash report: %s", exc_type.__name__, thread, exc,
                     path or "not written", exc_info=(exc_type, exc, tb) if exc is not None else None, extra={"file_only": True})
        print(f"hmi: the station stopped on an unexpected error ({exc_type.__name__}: {exc}). "
              f"The report is in {path or self.data_dir}; send it to the integrator and restart the station.",
              file=sys.stderr, flush=True)
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a crash callback failed")
        return path


def install_crash_handler(data_dir: Path, summary: Callable[[], dict] | None = None, *,
                          exit_after_main_crash: bool = True) -> CrashHandler:
    """Create and install the process's crash handler."""
    if _installed is not None:
        _installed.uninstall()
    return CrashHandler(data_dir, summary, exit_after_main_crash=exit_after_main_crash).install()


def on_crash(callback: Callable[[], object]) -> Callable[[], None]:
    """Register `callback` with the installed crash handler; returns its remover (a no-op when none is installed)."""
    if _installed is None:
        return lambda: None
    return _installed.add_fault_callback(callback)
