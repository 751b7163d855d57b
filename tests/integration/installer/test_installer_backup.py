"""`hmi db backup` taken while the line runs is sound, and restoring it lets the station carry on."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ENV = {k: v for k, v in os.environ.items() if k != "DISPLAY"}


def _hmi(*args: str, data: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hmi", *args, "--data-dir", str(data)], capture_output=True,
                          text=True, timeout=timeout, env=ENV)


def _seqs(db: Path) -> list[int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT seq FROM inspections ORDER BY seq")]
    finally:
        conn.close()


def _recorded(db: Path) -> int:
    try:
        return len(_seqs(db))
    except sqlite3.Error:  # not created yet
        return 0


@pytest.mark.slow
def test_backup_during_a_run_passes_integrity_and_restores_with_numbering_carried_on(tmp_path):
    data = tmp_path / "data"
    db = data / "hmi.db"
    backup = tmp_path / "backups" / "hmi-backup.db"
    line = subprocess.Popen([sys.executable, "-m", "hmi", "run", "--headless", "--max-parts", "300",
                             "--set", "camera.rate_hz=0", "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 120
        while _recorded(db) < 30 and time.monotonic() < deadline and line.poll() is None:
            time.sleep(0.1)
        assert line.poll() is None, "the run ended before the backup could be taken"
        taken = _hmi("db", "backup", str(backup), data=data)
        running_after_backup = line.poll() is None
        out, err = line.communicate(timeout=180)
    finally:
        if line.poll() is None:
            line.kill()
            line.communicate()
    assert taken.returncode == 0, taken.stderr
    assert running_after_backup, "the line should still have been running when the backup finished"
    assert line.returncode == 0, err
    assert "integrity ok" in taken.stdout and "remove hmi.db-wal and hmi.db-shm" in taken.stdout
    conn = sqlite3.connect(backup)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    saved = _seqs(backup)
    assert 30 <= len(saved) < 300 == len(_seqs(db))
    assert int(re.search(r"backup of (\d+) parts", taken.stdout).group(1)) == len(saved)
    # a backup is never overwritten
    again = _hmi("db", "backup", str(backup), data=data)
    assert again.returncode == 2 and "already exists" in again.stderr

    # restore as the command says: station stopped, copy over hmi.db, remove -wal and -shm
    shutil.copyfile(backup, db)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    assert _hmi("db", "check", data=data).stdout.strip() == "ok"
    resumed = _hmi("run", "--headless", "--max-parts", "20", "--set", "camera.rate_hz=0", data=data)
    assert resumed.returncode == 0, resumed.stderr
    after = _seqs(db)
    new = after[len(saved):]
    assert after[:len(saved)] == saved  # the restored parts are all there
    assert len(new) == 20 and min(new) > max(saved)  # numbering carries on after them, no number twice
    assert len(set(after)) == len(after)
