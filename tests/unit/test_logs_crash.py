"""The crash handler in-process: report file, callbacks, hooks given back."""

from __future__ import annotations

import sys
import threading

import pytest

from hmi.core.logs import CrashHandler, close_logging, install_crash_handler, on_crash, setup_logging


@pytest.mark.expected_errors("unhandled IndexError in thread 'report-export", "a crash callback failed")
def test_a_thread_crash_writes_a_report_and_calls_every_callback_even_after_one_fails(tmp_path):
    setup_logging(tmp_path)
    hooks = (sys.excepthook, threading.excepthook)
    handler = install_crash_handler(tmp_path, lambda: {"plc": {"host": "10.0.0.5"}, "admin_pin": "1234"})
    called: list[str] = []
    try:
        def broken() -> None:
            raise OSError("callback broke")

        on_crash(broken)
        remove = on_crash(lambda: called.append("plc fault"))
        worker = threading.Thread(target=lambda: [][1], name="report-export")
        worker.start()
        worker.join()
        remove()
        worker = threading.Thread(target=lambda: [][1], name="report-export-2")
        worker.start()
        worker.join()
    finally:
        handler.uninstall()
        close_logging()
    assert (sys.excepthook, threading.excepthook) == hooks
    assert called == ["plc fault"]  # the removed callback was not called on the second crash
    assert len(handler.reports) == 2 and all(p.parent == tmp_path / "crash" for p in handler.reports)
    text = handler.reports[0].read_text(encoding="utf-8")
    assert "in thread 'report-export'" in text and "IndexError: list index out of range" in text
    assert "plc.host = '10.0.0.5'" in text and "admin_pin = <not recorded>" in text and "1234" not in text
    log = (tmp_path / "logs" / "hmi.log").read_text(encoding="utf-8")
    assert "a crash callback failed" in log and "OSError: callback broke" in log


@pytest.mark.expected_errors("unhandled RuntimeError in thread 'MainThread': x")
def test_without_an_installed_handler_registering_is_harmless(tmp_path):
    remove = on_crash(lambda: None)
    remove()
    handler = CrashHandler(tmp_path)
    path = handler.report(RuntimeError, RuntimeError("x"), None, "MainThread")
    assert path is not None and path.read_text(encoding="utf-8").count("RuntimeError: x") == 1
