"""The stages after the verdict: records (SQLite + images) first, then the PLC; built from what the builder hands in."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from hmi.config.schema import StationConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import StoreError
from hmi.core.messages import DownstreamDefect, OperatorReview
from hmi.core.part import Part
from hmi.pipeline.queues import BoundedQueue
from hmi.plc.factory import create_signaller, simulated_link, start_simulated_plc
from hmi.station.queues import RecordsQueues
from hmi.store.audit import AuditAction, AuditRequest
from hmi.store.database import database_path
from hmi.store.images import ImageWriter
from hmi.store.requests import StoreRequests
from hmi.store.writer import RecordWriter

log = logging.getLogger(__name__)


class RecordsAndPlc:
    """Store writer -> PLC signaller, plus the image writer; a verdict reaches the PLC only once committed.

    DESIGN.md draws the PLC and the store side by side; they are chained here because a verdict the
    PLC acted on must be in the database even if the process is killed at any moment. While the records
    cannot be written at all, the store has the PLC show the station in fault (state 2), so the line
    rejects every part. Everything it works with comes in through the constructor; it never sees the
    station. What each part was judged with (recipe, threshold version, defect codes, heat-map scale)
    comes with the part itself. `connection` is the records' write connection the builder opened (None: the
    store thread opens its own); `writer_type` is the store thread's class (tests give one whose disk fills).
    """

    def __init__(self, cfg: StationConfig, data_dir: Path, queues: RecordsQueues, *,
                 records_in: BoundedQueue[Part], reviews: BoundedQueue[OperatorReview], alarms: AlarmBoard,
                 connection: sqlite3.Connection | None = None,
                 writer_type: type[RecordWriter] | None = None) -> None:
        self._started = False
        self.records_in = records_in
        self.queues = queues
        self.plc = None
        self._records_lost = False
        writer = writer_type or RecordWriter
        self.writer = writer(database_path(data_dir), records_in, queues.committed, alarms, cfg.store,
                             deliveries=queues.deliveries, reviews=reviews, audits=queues.audits,
                             images=queues.image_jobs, image_paths=queues.image_paths,
                             alarm_events=queues.alarm_events, downstream_defects=queues.downstream_defects,
                             requests=queues.store_requests, plc_fault=self._records_fault, connection=connection)
        assert self.writer.requests is not None
        # The door every other write of the records goes through (part numbers, users, thresholds).
        self.writes: StoreRequests = self.writer.requests
        self.images = ImageWriter(data_dir, queues.image_jobs, queues.image_paths, alarms, cfg.store)
        plc_cfg = cfg.plc
        self.simulated_plc = start_simulated_plc(plc_cfg) if plc_cfg.mode == "simulated" else None
        try:
            if self.simulated_plc is not None:
                plc_cfg = simulated_link(plc_cfg, self.simulated_plc)
            # The signaller reads the rows a killed run left pending, before any new part, and settles them.
            self.plc = create_signaller(plc_cfg, queues.committed, queues.plc_reviews, queues.deliveries, alarms,
                                        records=self.writes)
            if self._records_lost:  # the store was refused while the station was being built
                self._records_fault(True)
        except BaseException:
            self.close()
            raise

    def audit(self, user: str, action: AuditAction | str, subject: str = "", old: Any = None, new: Any = None,
              reason: str = "") -> None:
        """Queue an audit entry for the store thread (the one writer of the database); StoreError when it cannot."""
        if not self.queues.audits.put(AuditRequest(user, AuditAction(action), subject, old, new, reason), timeout=1.0):
            raise StoreError(f"the audit entry '{AuditAction(action).value}' could not be handed to the records "
                             "(queue full)", "try again in a moment; if it repeats, check the store alarms")

    def report_downstream_defect(self, report: DownstreamDefect) -> None:
        """Queue a defect found downstream for the store thread, which records and audits it in one transaction."""
        if not self.queues.downstream_defects.put(report, timeout=1.0):
            raise StoreError(f"the report on part {report.seq} could not be handed to the records (queue full)",
                             "try again in a moment; nothing was recorded")

    def _records_fault(self, fault: bool) -> None:
        """Told by the store thread: nothing can be recorded (True), or records can be written again (False)."""
        self._records_lost = fault
        if self.plc is None:
            return  # told again once the signaller is made
        if fault:
            log.warning("records cannot be written: the PLC is told the station has a fault and rejects every part")
            self.plc.signal_fault()
        else:
            log.info("records can be written again: the PLC is told the station runs")
            self.plc.clear_fault()

    def plc_status(self):
        """The PLC link's state (connected, heartbeats, requested recipe)."""
        return self.plc.status()

    def signal_fault(self, wait_s: float = 1.0) -> None:
        """Show the PLC station state 2 (fault), so the line rejects rather than waits."""
        self.plc.signal_fault(wait_s=wait_s)

    def start(self) -> None:
        """Records first, then images, then the PLC."""
        self._started = True
        self.writer.start()
        self.images.start()
        self.plc.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Let the records reach the PLC, stop the PLC, then images, then the records (which take the last reports)."""
        if self._started:
            deadline = time.monotonic() + timeout_s
            while (len(self.records_in) or len(self.queues.committed)) and time.monotonic() < deadline:
                time.sleep(0.01)
            for worker in (self.plc, self.images, self.writer):
                worker.stop()
                if not worker.join(timeout_s):
                    log.error("%s did not stop within %.0f s", worker.role, timeout_s)
            self._started = False
        self.close()

    def close(self) -> None:
        """Close the records (a store that never ran) and stop the simulated PLC this stage started; safe twice."""
        if not self._started and not self.writer.alive:
            self.writer.close()
        if self.simulated_plc is not None:
            self.simulated_plc.stop()
            self.simulated_plc = None

    def workers(self) -> list:
        """The stage's workers, for the health panel."""
        return [self.writer, self.images, self.plc]


def audit_not_recorded(user: str, action: AuditAction | str, subject: str = "", old: Any = None, new: Any = None,
                       reason: str = "") -> None:
    """The audit trail of a station without records (setup mode, the bare core): the entry goes to the log only."""
    log.warning("audit without records: %s %s %s", user, action, subject)
