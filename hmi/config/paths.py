"""Where the station finds its shipped resources and where it writes (the data directory)."""

from __future__ import annotations

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
