"""A stand-in for what the reports screen uses of a station: its config, data folder and report thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hmi.services.reports.background import ReportWorker


@dataclass
class ReportsStation:
    """What the reports screen uses of the station (StationPort's cfg, data_dir and report thread)."""

    cfg: object
    data_dir: Path
    reports: ReportWorker = field(default_factory=ReportWorker)

    def stop(self) -> None:
        """As the station stops its report thread."""
        self.reports.shutdown(10, cancel_pending=True)
