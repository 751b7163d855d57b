"""Where an export may go: the station's own disk, the shares in station.toml, and mounted removable drives.

A quality manager at the kiosk takes a report away on a USB drive or drops it on the quality share;
the reports screen lists what is there now (drives come and go) and writes where they tap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hmi.config.schema import ReportsConfig
from hmi.core.errors import StationError

STATION_DISK = "Station disk"


class TargetNotReady(StationError):
    """An export target that cannot be written now (unplugged, unmounted, read-only)."""


@dataclass(frozen=True)
class ExportTarget:
    """A folder exports can be written to, with the name the screen shows."""

    name: str
    folder: Path
    kind: str  # 'station', 'share' or 'removable'

    @property
    def label(self) -> str:
        """The button's words: 'USB: KINGSTON', 'Quality share', 'This station'."""
        return f"USB: {self.name}" if self.kind == "removable" else self.name

    def ready(self) -> TargetNotReady | None:
        """None when the folder can be written now; else what is wrong and what to do, in plain words."""
        if self.kind == "station":
            return None
        if not self.folder.is_dir():
            what = ("is no longer plugged in" if self.kind == "removable" else f"cannot be reached at {self.folder}")
            todo = ("plug the drive in again and choose it once it is listed" if self.kind == "removable"
                    else "check that the share is mounted (ask IT), or choose another target")
            return TargetNotReady(f"{self.label} {what}", todo)
        if not os.access(self.folder, os.W_OK):
            return TargetNotReady(f"{self.label} is read-only for the station",
                                "unlock the drive (write-protect switch) or ask IT for write access to the share")
        return None


def removable_drives(roots: list[str], is_mount: Callable[[str], bool] = os.path.ismount) -> list[ExportTarget]:
    """Mounted drives under `roots` (/media/LABEL, /media/USER/LABEL, /run/media/USER/LABEL), by name."""
    found: dict[str, ExportTarget] = {}
    for root in roots:
        for depth_one in _folders(Path(root)):
            candidates = [depth_one] if is_mount(str(depth_one)) else _folders(depth_one)
            for folder in candidates:
                if is_mount(str(folder)) and str(folder) not in found:
                    found[str(folder)] = ExportTarget(folder.name, folder, "removable")
    return sorted(found.values(), key=lambda t: (t.name.casefold(), str(t.folder)))


def _folders(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:  # no such root, or not ours to list
        return []


def station_target(data_dir: Path) -> ExportTarget:
    """The station's own exports folder (DATA_DIR/exports): always offered, found without touching a share."""
    return ExportTarget(STATION_DISK, Path(data_dir) / "exports", "station")


def export_targets(config: ReportsConfig, data_dir: Path,
                   is_mount: Callable[[str], bool] = os.path.ismount) -> list[ExportTarget]:
    """Every target offered now: the station's exports folder first, then the shares, then the drives plugged in."""
    targets = [station_target(data_dir)]
    targets += [ExportTarget(t.name, Path(t.path), "share") for t in config.export_targets]
    targets += removable_drives(config.removable_media, is_mount)
    return targets


def settle(path: Path) -> None:
    """Flush a written export and its folder entry to the device, so a USB drive may be pulled at once."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
