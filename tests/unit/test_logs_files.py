"""The station's log files: one line per event, UTC, rotation, console warnings only, no secrets."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest

from hmi.core.logs import close_logging, config_summary, setup_logging

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\S+) (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+): (.*)$")


@pytest.fixture
def logged(tmp_path):
    yield tmp_path
    close_logging()


@pytest.mark.expected_errors("^with a traceback$")
def test_one_line_per_event_with_utc_time_thread_level_and_logger(logged):
    path = setup_logging(logged)
    log = logging.getLogger("hmi.test")
    log.info("part %d judged", 7)
    log.warning("two\nlines")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("with a traceback")
    close_logging()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert path == logged / "logs" / "hmi.log"
    assert len(lines) == 3
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert [m.group(2) for m in parsed] == ["INFO", "WARNING", "ERROR"]
    assert {m.group(1) for m in parsed} == {"MainThread"} and {m.group(3) for m in parsed} == {"hmi.test"}
    assert parsed[0].group(4) == "part 7 judged"
    assert parsed[1].group(4) == "two | lines"
    assert "ValueError: boom" in parsed[2].group(4)


@pytest.mark.expected_errors("^already told the person$")
def test_console_shows_warnings_only_and_file_only_records_stay_off_it(logged, capsys):
    path = setup_logging(logged)
    log = logging.getLogger("hmi.test")
    log.info("routine event")
    log.warning("camera slow")
    log.error("already told the person", extra={"file_only": True})
    close_logging()
    err = capsys.readouterr().err
    assert "camera slow" in err
    assert "routine event" not in err and "already told the person" not in err
    text = path.read_text(encoding="utf-8")
    assert "routine event" in text and "already told the person" in text


def test_files_rotate_at_the_size_limit_and_keep_the_set_number(logged):
    path = setup_logging(logged, max_bytes=2000, backups=3)
    log = logging.getLogger("hmi.test")
    for i in range(200):
        log.info("event %04d %s", i, "x" * 40)
    close_logging()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["hmi.log", "hmi.log.1", "hmi.log.2", "hmi.log.3"]
    assert all((path.parent / f).stat().st_size <= 2000 for f in files)
    assert "event 0199" in path.read_text(encoding="utf-8")


def test_a_second_setup_replaces_the_first_handlers(logged):
    setup_logging(logged / "a")
    setup_logging(logged / "b")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_hmi_handler", False)]
    assert len(ours) == 2  # console + file of the second call only
    logging.getLogger("hmi.test").warning("where")
    close_logging()
    assert "where" in (logged / "b" / "logs" / "hmi.log").read_text(encoding="utf-8")
    assert "where" not in (logged / "a" / "logs" / "hmi.log").read_text(encoding="utf-8")


def test_config_summary_leaves_secrets_out():
    lines = config_summary({"plc": {"host": "10.0.0.5", "port": 102}, "users": {"admin_password": "hunter2"},
                            "api_token": "abc", "station": {"name": "Station 1"}})
    assert "plc.host = '10.0.0.5'" in lines and "station.name = 'Station 1'" in lines
    assert "users.admin_password = <not recorded>" in lines and "api_token = <not recorded>" in lines
    assert not any("hunter2" in line or "'abc'" in line for line in lines)


def test_a_pin_never_reaches_the_log_even_at_debug_level(tmp_path):
    """Create the first admin, then log in right and wrong through the CLI: the log has the events, never the PIN."""
    data = tmp_path / "data"
    env = {**os.environ, "HMI_LOG": "DEBUG"}
    env.pop("DISPLAY", None)
    pin, wrong = "482135", "991173"

    def hmi(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "hmi", *args, "--data-dir", str(data)], input=stdin,
                              capture_output=True, text=True, timeout=120, env=env)

    added = hmi("users", "add", "anna", "--role", "admin", stdin=pin + "\n")
    assert added.returncode == 0, added.stderr
    ok = hmi("users", "add", "olaf", "--role", "operator", "--admin", "anna", stdin=f"{pin}\n{wrong}\n")
    assert ok.returncode == 0, ok.stderr
    refused = hmi("users", "disable", "olaf", "--admin", "anna", stdin=wrong + "\n")
    assert refused.returncode == 2
    text = (data / "logs" / "hmi.log").read_text(encoding="utf-8")
    assert text.count("users, data directory") == 3  # every command left its line
    assert "users:" in text  # the refused login is in the log, in words
    assert pin not in text and wrong not in text
    for out in (added, ok, refused):
        assert pin not in out.stdout + out.stderr and wrong not in out.stdout + out.stderr


def test_s7_connect_chatter_stays_out_of_the_file_unless_debugging(logged):
    path = setup_logging(logged)
    logging.getLogger("snap7.client").info("Disconnected from :102")
    logging.getLogger("snap7.client").warning("connection refused")
    setup_logging(logged, file_level="DEBUG")
    logging.getLogger("snap7.client").info("Connected, PDU size 480")
    close_logging()
    text = path.read_text(encoding="utf-8")
    assert "Disconnected from" not in text
    assert "connection refused" in text and "PDU size 480" in text
