"""The PLC thread: writes every decided part's result to the PLC, heartbeats both ways, watches the link.

Parts reach this thread only after the store has committed them, so the PLC never acts on a
verdict the records lack. A part whose result cannot be written by its deadline is reported as
not delivered: the PLC rejects any part it has no result for. A write the PLC never answered is
watched in the ring afterwards, and its record corrected if the PLC applied it after all
(`hmi.plc.unsure`); rows a killed run left pending are settled from the ring at the first contact
(`hmi.plc.left_pending`). The link counts as up only once a connect has read the interface DB and
written the heartbeat: a PLC that accepts the connection but refuses the DB is PLC_REFUSED, retried
on a back-off that such a connect does not reset.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from hmi.config.schema import PlcConfig
from hmi.core.alarm_catalogue import INSPECTION_DISABLED, PLC_LINK, PLC_OFF, PLC_REFUSED, PLC_SILENT, PLC_SIMULATED
from hmi.core.alarms import AlarmBoard
from hmi.core.messages import DeliveryStatus, OperatorReview, PlcDelivery
from hmi.core.part import Part, utc_now
from hmi.pipeline.metrics import StageMetrics
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import Worker, WorkerState
from hmi.plc import layout
from hmi.plc.layout import SlotFlag, StationState
from hmi.plc.left_pending import LeftPending, RecordWrites, ring_slots
from hmi.plc.repeats import RepeatedLog
from hmi.plc.s7link import PlcLinkError, S7Link
from hmi.plc.unsure import UnsureResult, UnsureResults

log = logging.getLogger(__name__)


FIRST_RETRY_S = 0.2          # first reconnect delay; doubles up to plc.reconnect_max_s
STABLE_S = 2.0               # a link up at least this long (and plc.reconnect_max_s) starts the back-off afresh
LINK_PROBE_S = 0.25          # the PLC area is read at least this often, so a dead link shows within 1 s
MAX_PARTS_PER_STEP = 64      # a burst of parts never starves the heartbeat for long
REPORT_WAIT_S = 0.05         # how long a delivery report may wait for room in the store's queue
HELD_MEMORY = 4096           # HOLD parts remembered for a later release from the hold lane
MAX_PENDING_RELEASES = 256
RING_END = layout.SLOT_BASE + layout.SLOT_SIZE * layout.SLOT_COUNT


@dataclass(frozen=True)
class PlcStatus:
    """A snapshot of the PLC link for the screens and the health panel."""

    mode: str
    address: str
    db: int
    connected: bool = False
    refused: bool = False            # the PLC answers but refuses the station's requests (PLC_REFUSED)
    round_trip_ms: float | None = None
    plc_heartbeat_age_s: float | None = None
    plc_silent: bool = False
    inspection_enabled: bool | None = None
    requested_recipe: int | None = None
    newest_seq_written: int | None = None
    plc_consumed_seq: int | None = None
    station_state: StationState = StationState.STOPPED
    delivered: int = 0
    late: int = 0
    not_delivered: int = 0
    corrected: int = 0               # not-delivered reports corrected: the PLC applied the write after all
    unsure: int = 0                  # unanswered writes still watched in the ring
    left_pending: int = 0            # rows a killed run left pending, settled from the ring at this start
    releases: int = 0
    pending_releases: int = 0
    reports_dropped: int = 0
    connect_attempts: int = 0
    retry_delay_s: float = FIRST_RETRY_S  # the wait before the next attempt after a failure
    last_error: str = ""


class _Ticker:
    """A period that fires on time and never piles up after a stall."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.due = 0.0

    def fire(self, now: float) -> bool:
        if now < self.due:
            return False
        self.due = max(self.due + self.period_s, now)
        return True


class PlcSignaller(Worker):
    """Owns the S7 client: writes part results (slot, then header), heartbeats, reconnects, raises alarms.

    `records` (the store's door for requests) lets it settle the rows a killed run left pending; None in
    tools and tests without records.
    """

    role = "plc"

    def __init__(self, cfg: PlcConfig, parts_in: BoundedQueue[Part], reviews_in: BoundedQueue[OperatorReview],
                 deliveries_out: BoundedQueue[PlcDelivery], alarms: AlarmBoard, defect_types: Sequence[str] = (),
                 records: RecordWrites | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.parts_in = parts_in
        self.reviews_in = reviews_in
        self.deliveries_out = deliveries_out
        self.alarms = alarms
        self.codes = layout.defect_codes(defect_types)  # only for parts that carry no setup (tools, tests)
        self.link = S7Link(cfg.host, cfg.port, cfg.rack, cfg.slot, cfg.db)
        self.metrics = StageMetrics("plc")  # latency = slot + header write time of each delivered part
        self._deadline_s = cfg.delivery_deadline_ms / 1000.0
        self._silent_s = cfg.plc_silent_ms / 1000.0
        self._beat = _Ticker(cfg.heartbeat_ms / 1000.0)
        self._probe = _Ticker(min(cfg.heartbeat_ms / 1000.0, LINK_PROBE_S))
        self._retry_at = 0.0
        self._retry_delay = FIRST_RETRY_S
        self._up_since: float | None = None
        self._heartbeat = 0
        self._newest: int | None = None
        self._slot_seq: dict[int, int] = {}            # ring slot -> seq last written there
        # Seqs sent to the hold lane -> the defect codes of the recipe each was judged with, for its release.
        self._held: OrderedDict[int, dict[str, int]] = OrderedDict()
        self._pending: OrderedDict[int, OperatorReview] = OrderedDict()
        self._unsure = UnsureResults()
        self._left_pending = LeftPending(records)      # read now: before any part of this run is recorded
        self._said = RepeatedLog(log)
        self._plc_beat: int | None = None
        self._plc_beat_changed = 0.0
        self._fault_requested = threading.Event()
        self._fault_written = threading.Event()
        self._beat_now = threading.Event()
        self._lock = threading.Lock()
        self._status = PlcStatus(mode=cfg.mode, address=f"{cfg.host}:{cfg.port}", db=cfg.db)

    # --- thread-safe surface -----------------------------------------------------------------
    def status(self) -> PlcStatus:
        """The link as of now (safe from any thread)."""
        with self._lock:
            age = None if self._plc_beat is None else time.monotonic() - self._plc_beat_changed
            return replace(self._status, plc_heartbeat_age_s=age)

    def signal_fault(self, wait_s: float = 0.0) -> bool:
        """Tell the PLC the station has a fault (state byte 2); with `wait_s`, wait until it is written."""
        self._fault_written.clear()
        self._fault_requested.set()
        self._beat_now.set()
        if wait_s <= 0 or threading.current_thread() is self._thread:
            return False
        return self._fault_written.wait(wait_s)

    def clear_fault(self) -> None:
        """Back to state 1 (running) once the fault is over."""
        self._fault_requested.clear()
        self._fault_written.clear()
        self._beat_now.set()

    def _update(self, **changes) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def _count(self, field: str, n: int = 1) -> None:
        with self._lock:
            self._status = replace(self._status, **{field: getattr(self._status, field) + n})

    # --- worker life cycle -------------------------------------------------------------------
    def setup(self) -> None:
        """Say so when the PLC is simulated; try the first connection (a PLC not there yet is retried)."""
        if self.cfg.mode == "simulated":
            self.alarms.raise_(PLC_SIMULATED)  # stands as long as the station runs: every screen shows it
        self._connect(time.monotonic())

    def loop_once(self) -> None:
        """Reconnect when due, heartbeat, watch the PLC, release held parts, then deliver waiting parts."""
        now = time.monotonic()
        if not self.link.up and now >= self._retry_at:
            self._connect(now)
        if self._beat_now.is_set() or self._beat.fire(now):
            self._beat_now.clear()
            self._write_beat()
        if self._probe.fire(now):
            self._read_plc(now)
            self._stop_watching(now)
        self._take_reviews()
        if self._pending:
            self._write_releases()
        wake = min(self._beat.due, self._probe.due, self._retry_at if not self.link.up else float("inf"))
        part = self.parts_in.take(timeout=min(max(wake - time.monotonic(), 0.0), 0.05))
        handled = 0
        while part is not None:
            self._deliver(part)
            handled += 1
            if handled >= MAX_PARTS_PER_STEP or time.monotonic() >= min(self._beat.due, self._probe.due):
                break
            part = self.parts_in.take_nowait()

    def teardown(self) -> None:
        """Look once more for unanswered writes, tell the PLC the station stopped (or failed), close the link."""
        failed = self.state is WorkerState.FAILED or self._fault_requested.is_set()
        state = StationState.FAULT if failed else StationState.STOPPED
        if self.link.up and len(self._unsure):
            self._read_plc(time.monotonic())
        if self.link.up:
            try:
                self.link.write(layout.VISION_HEARTBEAT, layout.encode_beat(layout.next_heartbeat(self._heartbeat), state))
            except PlcLinkError as exc:
                log.warning("could not tell the PLC the station stopped: %s", exc)
        for result in self._unsure.expired(float("inf")):
            log.warning("part %d: its unanswered write was not seen in the PLC's ring before the station stopped; "
                        "it stays recorded not delivered", result.slot.seq)
        self.link.close()
        self._update(connected=False, station_state=state, unsure=0)

    # --- link --------------------------------------------------------------------------------
    def _connect(self, now: float) -> None:
        """Connect, read the whole interface DB and write the heartbeat: only then is the link up."""
        self._count("connect_attempts")
        beat, state = layout.next_heartbeat(self._heartbeat), self._station_state()
        try:
            ms = self.link.connect()
            image, _ = self.link.read(0, layout.DB_SIZE)  # the DB exists, is long enough and may be read
            self.link.write(layout.VISION_HEARTBEAT, layout.encode_beat(beat, state))  # ... and written
        except PlcLinkError as exc:
            self._link_down(exc, now)
            return
        self._heartbeat = beat
        if state is StationState.FAULT:
            self._fault_written.set()
        self._up_since = now
        log.info("PLC %s connected in %.1f ms", self.link.address, ms)
        # The PLC heartbeat's last value and time are kept: a PLC silent before the outage stays in alarm.
        self._update(connected=True, refused=False, round_trip_ms=ms, station_state=state)
        self._beat.due = now + self._beat.period_s
        self.alarms.clear(PLC_LINK)
        self.alarms.clear(PLC_REFUSED)
        self._take_plc_area(layout.PlcArea.decode(image[layout.PLC_AREA:]), now, ms)
        ring = image[layout.SLOT_BASE:RING_END]
        self._correct(self._unsure.found_in_ring(ring))
        if self._left_pending.waiting:
            counts = self._left_pending.settle(ring_slots(ring))
            self._count("left_pending", sum(counts.values()))
            log.info("parts left pending by the last run, by the PLC's ring: %s", counts)

    def _link_down(self, exc: PlcLinkError, now: float) -> None:
        """Mark the link down, raise its alarm at once (PLC_REFUSED when the PLC answers but refuses), back off."""
        before = self.status()
        self.link.close()
        if self._up_since is not None and now - self._up_since >= max(STABLE_S, self.cfg.reconnect_max_s):
            self._retry_delay = FIRST_RETRY_S  # a link that worked for a while: try again soon, and say so at once
            self._said.forget("lost")
            self._said.forget("refused")
        self._up_since = None
        self._retry_at = now + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, self.cfg.reconnect_max_s)
        self._update(connected=False, refused=exc.refused, last_error=str(exc), retry_delay_s=self._retry_delay)
        self.alarms.clear(INSPECTION_DISABLED)  # unknown while the link is down: parts are judged and rejected
        address = f"{self.cfg.host}:{self.cfg.port}"
        if exc.refused:
            self.alarms.raise_(PLC_REFUSED, address=address, db=self.cfg.db, problem=exc.what)
            self.alarms.clear(PLC_LINK)
            self._said.log(logging.ERROR, "refused", "PLC refuses the station's requests: %s", exc)
        else:
            self.alarms.raise_(PLC_LINK, address=address)
            self.alarms.clear(PLC_REFUSED)
            if before.connected:
                self._said.log(logging.ERROR, "lost", "PLC link lost: %s", exc)
            else:
                self._said.log(logging.WARNING, f"down {exc.failure.value}", "PLC not connected: %s", exc)

    def _station_state(self) -> StationState:
        return StationState.FAULT if self._fault_requested.is_set() else StationState.RUNNING

    def _write_beat(self) -> None:
        if not self.link.up:
            return
        state = self._station_state()
        beat = layout.next_heartbeat(self._heartbeat)
        try:
            ms = self.link.write(layout.VISION_HEARTBEAT, layout.encode_beat(beat, state))
        except PlcLinkError as exc:
            self._link_down(exc, time.monotonic())
            return
        self._heartbeat = beat
        if state is StationState.FAULT:
            self._fault_written.set()
        self._update(round_trip_ms=ms, station_state=state)

    def _read_plc(self, now: float) -> None:
        """Read the PLC's bytes; while unanswered writes are watched, the whole DB, to look for them in the ring."""
        if not self.link.up:
            return
        whole = len(self._unsure) > 0
        try:
            if whole:
                image, ms = self.link.read(0, layout.DB_SIZE)
                data = image[layout.PLC_AREA:]
            else:
                data, ms = self.link.read(layout.PLC_AREA, layout.PLC_AREA_SIZE)
        except PlcLinkError as exc:
            self._link_down(exc, now)
            return
        self._take_plc_area(layout.PlcArea.decode(data), now, ms)
        if whole:
            self._correct(self._unsure.found_in_ring(image[layout.SLOT_BASE:RING_END]))

    def _take_plc_area(self, area: layout.PlcArea, now: float, ms: float) -> None:
        """The PLC's heartbeat (PLC_SILENT), its "inspection enabled" bit (INSPECTION_DISABLED) and requests."""
        if area.heartbeat != self._plc_beat:
            with self._lock:
                self._plc_beat = area.heartbeat
                self._plc_beat_changed = now
            if self.alarms.is_active(PLC_SILENT):
                log.info("PLC heartbeat running again")
            self.alarms.clear(PLC_SILENT)
            silent = False
        else:
            silent = now - self._plc_beat_changed >= self._silent_s
            if silent:
                self.alarms.raise_(PLC_SILENT, host=self.cfg.host)
        was_enabled = self._status.inspection_enabled
        if area.inspection_enabled:
            self.alarms.clear(INSPECTION_DISABLED)
        else:
            self.alarms.raise_(INSPECTION_DISABLED, db=self.cfg.db)  # the capture thread triggers no part
        if was_enabled is not None and was_enabled != area.inspection_enabled:
            log.info("the PLC %s inspection", "enabled" if area.inspection_enabled else "disabled")
        self._update(round_trip_ms=ms, plc_silent=silent, inspection_enabled=area.inspection_enabled,
                     requested_recipe=area.requested_recipe, plc_consumed_seq=area.consumed_seq)

    # --- parts -------------------------------------------------------------------------------
    def _deliver(self, part: Part) -> None:
        """Write one part's slot, then the header's newest seq; report what became of it."""
        arrived = time.monotonic()
        deadline = part.captured_mono + self._deadline_s
        if not self.link.up:
            status = self.status()
            why = "the PLC refuses the station's requests" if status.refused else "PLC link down"
            self._report(part.seq, DeliveryStatus.NOT_DELIVERED, None,
                         f"{why} ({status.last_error}); the PLC rejects the part by itself")
            return
        late_on_arrival = arrived > deadline
        slot = layout.slot_for_part(part, self.cfg.hold_lane, self.codes, force_reject=late_on_arrival)
        newest = slot.seq if self._newest is None else max(self._newest, slot.seq)
        if self._unsure.in_slot(layout.slot_index(slot.seq)) and not self._look_before_overwrite(slot.seq):
            self._report(part.seq, DeliveryStatus.NOT_DELIVERED, None,
                         f"PLC link down ({self.status().last_error}); the PLC rejects the part by itself")
            return
        t0 = time.perf_counter()
        try:
            self.link.write(slot.offset, slot.encode())
        except PlcLinkError as exc:
            self._slot_not_written(part, slot, deadline, exc)
            return
        header_failed: PlcLinkError | None = None
        ms = None
        try:
            ms = self.link.write(layout.NEWEST_SEQ, layout.encode_newest_seq(newest))
        except PlcLinkError as exc:
            header_failed = exc
        self.metrics.record(time.perf_counter() - t0)
        done = time.monotonic()
        at = utc_now()
        self._newest = newest
        self._slot_seq[layout.slot_index(slot.seq)] = slot.seq
        if slot.flags & SlotFlag.HOLD_LANE:
            self._remember_held(slot.seq, self._codes_of(part))
        self._update(newest_seq_written=newest, **({"round_trip_ms": ms} if ms is not None else {}))
        # The slot was acknowledged: the PLC has the result (its scan of the ring finds it without the header).
        header = (f"; the header write that follows it failed ({header_failed.what}), the PLC finds the result by "
                  "its scan of the ring") if header_failed is not None else ""
        if late_on_arrival:
            self._report(part.seq, DeliveryStatus.LATE, at,
                         f"reached the PLC thread {(arrived - deadline) * 1000:.0f} ms after its "
                         f"{self.cfg.delivery_deadline_ms} ms deadline; written with the reject bit set{header}")
        elif done > deadline:
            self._report(part.seq, DeliveryStatus.LATE, at,
                         f"written {(done - deadline) * 1000:.0f} ms after its {self.cfg.delivery_deadline_ms} ms "
                         f"deadline; the PLC will have rejected it{header}")
        else:
            self._report(part.seq, DeliveryStatus.DELIVERED, at, header.lstrip("; "))
        if header_failed is not None:
            self._link_down(header_failed, done)

    def _slot_not_written(self, part: Part, slot: layout.ResultSlot, deadline: float, exc: PlcLinkError) -> None:
        """The slot write failed: not delivered; if it went out unanswered, watch the ring for it."""
        now = time.monotonic()
        self._link_down(exc, now)
        if not exc.unanswered:
            self._report(part.seq, DeliveryStatus.NOT_DELIVERED, None, f"write failed: {exc}")
            return
        for dropped in self._unsure.add(UnsureResult(slot, deadline, now, exc.what)):
            log.warning("part %d: too many unanswered writes to watch; it stays recorded not delivered",
                        dropped.slot.seq)
        self._update(unsure=len(self._unsure))
        self._report(part.seq, DeliveryStatus.NOT_DELIVERED, None,
                     f"write not answered ({exc.what}); the PLC may still apply it: its ring slot is read back "
                     "and this record corrected if it does")

    def _look_before_overwrite(self, seq: int) -> bool:
        """Read the slot part `seq` goes to before writing over an unanswered result there; False if the link broke."""
        index = layout.slot_index(seq)
        try:
            raw, _ = self.link.read(layout.slot_offset(seq), layout.SLOT_SIZE)
        except PlcLinkError as exc:
            self._link_down(exc, time.monotonic())
            return False
        self._correct(self._unsure.found(index, raw))
        return True

    def _correct(self, found: list[UnsureResult]) -> None:
        """Results the PLC applied after their write went unanswered: correct their records (delivered or late)."""
        now = time.monotonic()
        for result in found:
            seq = result.slot.seq
            on_time = now <= result.deadline
            status = DeliveryStatus.DELIVERED if on_time else DeliveryStatus.LATE
            when = "" if on_time else f", {(now - result.deadline) * 1000:.0f} ms after its deadline"
            detail = (f"the write went unanswered ({result.error}) but the PLC applied it after all: read back "
                      f"from its ring slot {result.index}{when}; the PLC may have acted on this verdict")
            log.warning("part %d: the PLC applied the result whose write went unanswered; recorded %s",
                        seq, status.value)
            if result.slot.flags & SlotFlag.HOLD_LANE:
                self._remember_held(seq, self.codes)
            self._count("not_delivered", -1)
            self._count("corrected")
            self._report(seq, status, utc_now(), detail)
        if found:
            self._update(unsure=len(self._unsure))

    def _stop_watching(self, now: float) -> None:
        for result in self._unsure.expired(now):
            log.warning("part %d: its unanswered write did not show in the PLC's ring within %.0f s; it stays "
                        "recorded not delivered", result.slot.seq, self._unsure.watch_s)
            self._update(unsure=len(self._unsure))

    def _report(self, seq: int, status: DeliveryStatus, at: datetime | None, detail: str = "") -> None:
        field = {DeliveryStatus.DELIVERED: "delivered", DeliveryStatus.LATE: "late"}.get(status, "not_delivered")
        self._count(field)
        if status is DeliveryStatus.NOT_DELIVERED:
            self.metrics.drop()
        if not self.deliveries_out.put(PlcDelivery(seq, status, at, detail), timeout=REPORT_WAIT_S):
            self._count("reports_dropped")
            log.error("delivery report for part %d dropped: the records queue is full", seq)

    # --- hold lane ---------------------------------------------------------------------------
    def _codes_of(self, part: Part) -> dict[str, int]:
        """Defect type -> code by the recipe the part was judged with."""
        if part.setup is None:
            return self.codes
        return layout.defect_codes(part.setup.defect_types)

    def _remember_held(self, seq: int, codes: dict[str, int]) -> None:
        self._held[seq] = codes
        while len(self._held) > HELD_MEMORY:
            self._held.popitem(last=False)

    def _take_reviews(self) -> None:
        if len(self.reviews_in) == 0:
            return
        while (review := self.reviews_in.take_nowait()) is not None:
            not_yet_written = self._newest is None or review.seq > self._newest
            if not self.cfg.hold_lane or (review.seq not in self._held and not not_yet_written):
                continue  # the part already left the line (rejected or passed); nothing to release
            self._pending[review.seq] = review
            if len(self._pending) > MAX_PENDING_RELEASES:
                old, _ = self._pending.popitem(last=False)
                log.error("hold-lane release for part %d dropped: too many releases waiting for the PLC", old)
        self._update(pending_releases=len(self._pending))

    def _write_releases(self) -> None:
        """Write operator verdicts for held parts into their ring slots, never over a result the PLC has not taken."""
        if not self.link.up:
            return
        consumed = self.status().plc_consumed_seq
        for seq, review in list(self._pending.items()):
            if seq not in self._held:
                if self._newest is not None and seq <= self._newest:
                    del self._pending[seq]  # written meanwhile, but not to the hold lane (late or link down)
                continue  # reviewed before its own result reached the PLC: wait for it
            occupant = self._slot_seq.get(layout.slot_index(seq), seq)
            if consumed is None or layout.wire_seq(occupant) > consumed:
                continue  # the PLC has not yet taken the result in that slot (the HOLD itself or a newer one)
            slot = layout.slot_for_review(review, self._held[seq])
            try:
                self.link.write(slot.offset, slot.encode())
            except PlcLinkError as exc:
                self._link_down(exc, time.monotonic())
                return
            del self._pending[seq]
            self._held.pop(seq, None)
            self._slot_seq[layout.slot_index(seq)] = seq
            self._count("releases")
            log.info("part %d released from the hold lane as %s by %s", seq, review.verdict.label, review.user)
        self._update(pending_releases=len(self._pending))


class NullSignaller(Worker):
    """plc.mode = off: no PLC; every part is reported PLC_OFF and a standing warning says nothing is rejected."""

    role = "plc"

    def __init__(self, cfg: PlcConfig, parts_in: BoundedQueue[Part], reviews_in: BoundedQueue[OperatorReview],
                 deliveries_out: BoundedQueue[PlcDelivery], alarms: AlarmBoard) -> None:
        super().__init__()
        self.cfg = cfg
        self.parts_in = parts_in
        self.reviews_in = reviews_in
        self.deliveries_out = deliveries_out
        self.alarms = alarms
        self.metrics = StageMetrics("plc")
        self._lock = threading.Lock()
        self._status = PlcStatus(mode="off", address="", db=cfg.db,
                                 last_error="PLC signalling is switched off (plc.mode = off)")

    def status(self) -> PlcStatus:
        """Counts of parts that went nowhere (safe from any thread)."""
        with self._lock:
            return self._status

    def signal_fault(self, wait_s: float = 0.0) -> bool:
        """Nothing to tell: there is no PLC."""
        return False

    def clear_fault(self) -> None:
        """Nothing to clear: there is no PLC."""

    def setup(self) -> None:
        """Raise the standing warning once."""
        self.alarms.raise_(PLC_OFF)

    def loop_once(self) -> None:
        """Report every waiting part as PLC_OFF; drop operator reviews (nothing to release)."""
        while self.reviews_in.take_nowait() is not None:
            pass
        part = self.parts_in.take(timeout=0.05)
        while part is not None:
            report = PlcDelivery(part.seq, DeliveryStatus.PLC_OFF, None, "plc.mode = off")
            if not self.deliveries_out.put(report, timeout=REPORT_WAIT_S):
                with self._lock:
                    self._status = replace(self._status, reports_dropped=self._status.reports_dropped + 1)
            with self._lock:
                self._status = replace(self._status, not_delivered=self._status.not_delivered + 1)
            self.metrics.drop()
            part = self.parts_in.take_nowait()
