"""Config and command-line mistakes end in one plain message and exit code 2, never a crash (issue 15 item 9);
the data folder is the station account's alone; recipe names are names, never paths.

Every case runs the `hmi` command as a subprocess on a data folder of its own.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes and the CLI as on the station's Linux")


def hmi(*args: str, data: Path, stdin: str = "") -> subprocess.CompletedProcess:
    """`hmi ARGS --data-dir DATA`, headless, with PINs on standard input."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", "hmi", *args, "--data-dir", str(data)], input=stdin,
                          capture_output=True, text=True, timeout=120, env=env)


def one_message(done: subprocess.CompletedProcess, *words: str) -> str:
    """The one line the command printed on stderr before exiting with 2; it holds every one of `words`."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hmi: "), done.stderr
    assert "Traceback" not in done.stderr and " — " in lines[0]  # what happened — what to do
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def station(tmp_path) -> Path:
    """A data folder with its admin anna (PIN 482913) and records, made by the command itself."""
    data = tmp_path / "data"
    done = hmi("users", "add", "anna", "--role", "admin", data=data, stdin="482913\n")
    assert done.returncode == 0, done.stderr
    return data


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("content", "words"), [
    ('[station]\nname = "Line 4"\n'.encode("utf-16"), ("not a UTF-8 text file", "UTF-16", "save it again as UTF-8")),
    (bytes(range(256)) * 8, ("not a UTF-8 text file", "binary data")),
], ids=["utf-16", "binary"])
def test_a_station_file_that_is_not_utf8_text_is_one_message(station, content, words):
    (station / "station.toml").write_bytes(content)
    one_message(hmi("run", "--headless", "--max-parts", "1", data=station), "station.toml", *words)


def test_a_data_folder_that_is_a_file_is_one_message(tmp_path):
    afile = tmp_path / "data"
    afile.write_text("not a folder")
    one_message(hmi("run", "--headless", data=afile), f"the data folder {afile} is a file, not a folder")
    one_message(hmi("users", "list", data=afile), "is a file, not a folder")
    assert afile.read_text() == "not a folder"


@pytest.mark.parametrize("anchor", ["garbage", "12", "x:" + "a" * 64, "0:" + "a" * 64, "3:abc"])
def test_a_malformed_audit_anchor_is_one_message(station, anchor):
    one_message(hmi("audit", "verify", "--anchor", anchor, data=station), "is not an audit entry's ID:HASH")


def test_a_dropped_audit_table_is_one_message_for_verify_and_run_and_named_by_db_check(station):
    with sqlite3.connect(station / "hmi.db") as conn:
        conn.execute("DROP TABLE audit")
    one_message(hmi("audit", "verify", data=station), "has no audit table", "keep a copy")
    one_message(hmi("run", "--headless", "--max-parts", "1", "--set", "plc.mode=off", data=station),
                "lacks the table audit", "removed behind the station's back")
    checked = hmi("db", "check", data=station)
    assert checked.returncode == 1 and "table audit of the records schema is missing" in checked.stdout


@pytest.mark.parametrize("name", ["../station", "..", "a/b", "sub\\x", ".hidden", "demo.", "CON"])
def test_recipe_names_that_are_paths_are_refused_everywhere(station, name):
    rule = "cannot be a recipe name"
    one_message(hmi("run", "--headless", "--set", f"station.recipe={name}", data=station), rule, "station.recipe")
    one_message(hmi("thresholds", "suggest", "--recipe", name, "--set", "station.recipe=demo", data=station), rule)


def test_a_recipe_name_in_the_station_file_is_checked_too(station):
    toml = station / "station.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('recipe = "demo"', 'recipe = "../../etc/x"'),
                    encoding="utf-8")
    one_message(hmi("run", "--headless", data=station), "'../../etc/x' cannot be a recipe name")


def test_a_new_data_folder_is_the_station_accounts_alone(station):
    assert mode(station) == 0o700
    for name in ("station.toml", "hmi.db", "recipes/demo.toml", "logs/hmi.log"):
        assert mode(station / name) == 0o600, name
    for name in ("recipes", "logs"):
        assert mode(station / name) == 0o700, name


def test_an_older_install_readable_by_others_is_tightened_on_start_with_a_log_line(station):
    for path in (station, station / "recipes", station / "logs"):
        path.chmod(0o755)
    for path in (station / "station.toml", station / "hmi.db", station / "recipes" / "demo.toml"):
        path.chmod(0o644)
    assert hmi("users", "list", "--set", "plc.mode=off", data=station).returncode == 0
    assert hmi("plc", "test", "--set", "plc.mode=off", data=station).returncode == 1  # loads the station file
    assert mode(station) == 0o700 and mode(station / "recipes") == 0o700
    assert mode(station / "station.toml") == 0o600 and mode(station / "hmi.db") == 0o600
    assert mode(station / "recipes" / "demo.toml") == 0o600
    log = (station / "logs" / "hmi.log").read_text(encoding="utf-8")
    assert "now the station's account's only" in log or "now by the station's account only" in log


def test_a_four_digit_pin_is_refused_in_one_message(tmp_path):
    data = tmp_path / "data"
    one_message(hmi("users", "add", "anna", "--role", "admin", data=data, stdin="4711\n"),
                "needs at least 6 characters", "min_pin_length")
    listed = hmi("users", "list", data=data)
    assert listed.returncode == 0 and "no users yet" in listed.stdout


def test_users_removed_behind_the_back_open_no_first_run_and_the_console_recovery_is_audited(station):
    with sqlite3.connect(station / "hmi.db") as conn:
        conn.execute("DELETE FROM users")
    one_message(hmi("users", "add", "eve", "--role", "admin", data=station, stdin="31415926\n"),
                "has had users", "hmi users recover-admin")
    assert "recover-admin" in hmi("users", "list", data=station).stdout
    one_message(hmi("users", "recover-admin", "bea", "--reason", "x", data=station, stdin="123\n"), "at least 6")
    done = hmi("users", "recover-admin", "bea", "--reason", "users table emptied", data=station, stdin="27182818\n")
    assert done.returncode == 0, done.stderr
    assert "recorded in the audit trail as 'console-recovery'" in done.stdout
    added = hmi("users", "add", "olga", "--role", "operator", "--admin", "bea", data=station,
                stdin="27182818\n65432109\n")
    assert added.returncode == 0, added.stderr  # the restored admin acts again
    with sqlite3.connect(station / "hmi.db") as conn:
        (user, subject, old, new, reason), = conn.execute(
            "SELECT user, subject, old_value, new_value, reason FROM audit WHERE action = 'admin_recovery'")
    assert (user, subject, old, new) == ("console-recovery", "bea", None, "admin, active, new secret")
    assert reason.startswith("users table emptied (at the console: ")
    verified = hmi("audit", "verify", data=station)
    assert verified.returncode == 0 and "intact" in verified.stdout
