"""The stages after the verdict: records (SQLite + images) first, then the PLC, built in one place."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from hmi.config.schema import StationConfig
from hmi.core.errors import StoreError
from hmi.core.messages import DownstreamDefect, OperatorReview, PlcDelivery
from hmi.core.part import Part
from hmi.pipeline.queues import BoundedQueue
from hmi.plc.factory import create_signaller, simulated_link, start_simulated_plc
from hmi.store.audit import AuditAction, AuditRequest
from hmi.store.database import database_path, open_database
from hmi.store.images import ImagePaths, ImageWriter
from hmi.store.queries import RecordReader
from hmi.store.sequence import SequenceAllocator
from hmi.store.thresholds import ThresholdLog
from hmi.store.users import UserDirectory
from hmi.store.writer import AlarmEvent, AlarmLog, RecordWriter

log = logging.getLogger(__name__)


class RecordsAndPlc:
    """Store writer -> PLC signaller, plus the image writer; a verdict reaches the PLC only once committed.

    DESIGN.md draws the PLC and the store side by side; they are chained here because a verdict the
    PLC acted on must be in the database even if the process is killed at any moment.
    """

    def __init__(self, cfg: StationConfig, data_dir: Path) -> None:
        self.cfg = cfg
        self.data_dir = data_dir
        self.db_path = database_path(data_dir)
        # Refuse a foreign or newer database now, before anything starts (raises StoreError).
        open_database(self.db_path).close()
        self.sequence = SequenceAllocator(self.db_path)
        self.users = UserDirectory(self.db_path)
        self.records = RecordReader(self.db_path)
        self.thresholds = ThresholdLog(self.db_path)
        self.simulated_plc = None
        self.writer: RecordWriter | None = None

    def attach(self, station: Any) -> None:
        """Build the workers around the station's records queue and alarm board."""
        p = self.cfg.pipeline
        self.committed: BoundedQueue[Part] = BoundedQueue("plc parts", p.result_queue)
        self.deliveries: BoundedQueue[PlcDelivery] = BoundedQueue("plc deliveries", 4 * p.result_queue)
        self.plc_reviews: BoundedQueue[OperatorReview] = BoundedQueue("plc reviews", 1000)
        self.audits: BoundedQueue[AuditRequest] = BoundedQueue("audit", 1000)
        self.image_jobs: BoundedQueue[Part] = BoundedQueue("image jobs", 64)
        self.image_paths: BoundedQueue[ImagePaths] = BoundedQueue("image paths", 4096)
        self.alarm_events: BoundedQueue[AlarmEvent] = BoundedQueue("alarm events", 1000)
        self.downstream_defects: BoundedQueue[DownstreamDefect] = BoundedQueue("downstream defects", 100)
        station.alarms.subscribe(AlarmLog(self.alarm_events))
        station.holds.subscribe(lambda review: self.plc_reviews.offer(review))
        self.writer = RecordWriter(self.db_path, station.records_in, self.committed, station.alarms, self.cfg.store,
                                   deliveries=self.deliveries, reviews=station.reviews, audits=self.audits,
                                   images=self.image_jobs, image_paths=self.image_paths,
                                   alarm_events=self.alarm_events, downstream_defects=self.downstream_defects)
        setup = station.active.get()
        heat = None
        if setup.inspector is not None:
            thr = setup.inspector.region_threshold
            heat = (0.8 * thr, 1.2 * thr)  # cold below 80 % of the region threshold, hottest at 120 %
        self.images = ImageWriter(self.data_dir, self.image_jobs, self.image_paths, station.alarms, self.cfg.store,
                                  heat_limits=heat)
        plc_cfg = self.cfg.plc
        if plc_cfg.mode == "simulated":
            self.simulated_plc = start_simulated_plc(plc_cfg)
            plc_cfg = simulated_link(plc_cfg, self.simulated_plc)
        self.plc = create_signaller(plc_cfg, self.committed, self.plc_reviews, self.deliveries, station.alarms,
                                    station.recipe.defect_types)
        self._records_in = station.records_in

    def audit(self, user: str, action: AuditAction | str, subject: str = "", old: Any = None, new: Any = None,
              reason: str = "") -> None:
        """Queue an audit entry for the store thread (the one writer of the database)."""
        self.audits.put(AuditRequest(user, AuditAction(action), subject, old, new, reason), timeout=1.0)

    def report_downstream_defect(self, report: DownstreamDefect) -> None:
        """Queue a defect found downstream for the store thread, which records and audits it in one transaction."""
        if not self.downstream_defects.put(report, timeout=1.0):
            raise StoreError(f"the report on part {report.seq} could not be handed to the records (queue full)",
                             "try again in a moment; nothing was recorded")

    def start(self) -> None:
        """Records first, then images, then the PLC."""
        assert self.writer is not None, "attach() first"
        self.writer.start()
        self.images.start()
        self.plc.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Let the records reach the PLC, stop the PLC, then images, then the records (which take the last reports)."""
        if self.writer is None:
            return
        deadline = time.monotonic() + timeout_s
        while (len(self._records_in) or len(self.committed)) and time.monotonic() < deadline:
            time.sleep(0.01)
        for worker in (self.plc, self.images, self.writer):
            worker.stop()
            if not worker.join(timeout_s):
                log.error("%s did not stop within %.0f s", worker.role, timeout_s)
        self.close()

    def close(self) -> None:
        """Release what construction and attach() opened (simulated PLC, connections); safe to call twice."""
        if self.simulated_plc is not None:
            self.simulated_plc.stop()
            self.simulated_plc = None
        self.sequence.close()
        self.users.close()
        self.thresholds.close()

    def workers(self) -> list:
        """The downstream workers, for the health panel."""
        return [w for w in (self.writer, self.images, self.plc) if w is not None]
