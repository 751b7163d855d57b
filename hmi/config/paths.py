"""Where the station finds its shipped resources and where it writes (the data directory)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import platformdirs


def install_root() -> Path:
    """Folder holding `resources/` and `models/`: the repo checkout, or the PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parents[2]


def resources_dir() -> Path:
    """Shipped defaults: station.toml, recipes/, demo images."""
    return install_root() / "resources"


def shipped_models_dir() -> Path:
    """Models shipped with the station (backbone, demo model)."""
    return install_root() / "models"


def default_data_dir() -> Path:
    """The platform's standard data directory for the station."""
    return Path(platformdirs.user_data_dir("inspection-station", "hmi"))


# --- owner-only files (POSIX) ------------------------------------------------------------------------
# The data folder holds the records, the users' PIN hashes and the audit trail: nobody but the station's own
# account may read it. New folders are made 0700 and files 0600; an older install is tightened on start.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
# What `tighten_data_dir` looks at: files directly in the data folder and these sub-folders (with their files).
_PRIVATE_FOLDERS = ("recipes", "logs", "crash", "models", "engines")
_PRIVATE_TREES = ("images",)  # images/DAY/: many files, so only the folders (which keeps the files from others)


def private_files() -> None:
    """From now on every file and folder this process creates is its owner's alone (umask 077; POSIX only)."""
    if os.name == "posix":
        os.umask(0o077)


def make_private(path: Path) -> bool:
    """Take every group and other permission off `path` (not following links); True when something changed."""
    if os.name != "posix":
        return False
    try:
        st = path.lstat()
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode) or not (st.st_mode & 0o077):
        return False
    wanted = PRIVATE_DIR_MODE if stat.S_ISDIR(st.st_mode) else stat.S_IMODE(st.st_mode) & PRIVATE_DIR_MODE
    try:
        os.chmod(path, wanted)
    except OSError:
        return False
    return True


def tighten_data_dir(data_dir: Path) -> list[Path]:
    """Make an existing data folder owner-only (it, its files and its usual sub-folders); returns what changed."""
    if os.name != "posix" or not data_dir.is_dir():
        return []
    changed = [data_dir] if make_private(data_dir) else []
    for entry in _entries(data_dir):
        if entry.name in _PRIVATE_TREES and entry.is_dir():
            days = [p for p in _entries(entry) if p.is_dir() and not p.is_symlink()]
            changed += [p for p in [entry, *days] if make_private(p)]
        elif entry.name in _PRIVATE_FOLDERS and entry.is_dir():
            changed += [p for p in [entry, *_entries(entry)] if make_private(p)]
        elif entry.is_file() and make_private(entry):
            changed.append(entry)
    return changed


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []
