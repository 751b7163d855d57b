"""The one place that builds the station: every thread, queue, records connection and the PLC link."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from hmi.camera.capture import CaptureWorker
from hmi.camera.factory import open_source
from hmi.camera.source import FrameSource, TriggerMode
from hmi.changes.plc_requests import PlcRecipeRequests
from hmi.changes.seals import SettingSeals, UnacceptedChanges
from hmi.changes.setup import SetupChanges
from hmi.changes.teaching import Teaching
from hmi.config.loader import load_recipe
from hmi.config.schema import Recipe, StationConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.errors import ModelError
from hmi.core.part import UNNUMBERED
from hmi.core.verdict import Verdict
from hmi.demo.dataset import demo_frames_dir
from hmi.inference.loading import judging_setup, load_inspector
from hmi.inference.worker import ActiveSetup, InspectionWorker, JudgingSetup
from hmi.pipeline.holds import HoldQueue, HoldTimer
from hmi.pipeline.metrics import StageMetrics
from hmi.pipeline.monitors import LightingDriftMonitor, RejectRateMonitor
from hmi.pipeline.outlet import VerdictOutlet
from hmi.pipeline.outputs import Output, OutputFactory, OutputFeed, StationStateWatch
from hmi.pipeline.supervisor import Supervisor
from hmi.plant import configured_outputs
from hmi.services.reports.background import ReportWorker
from hmi.station.queues import judging_queues, output_queue, output_reviews_queue, records_queues
from hmi.station.records_and_plc import RecordsAndPlc, audit_not_recorded
from hmi.station.station import Station
from hmi.store.database import database_path, refuse_unknown
from hmi.store.queries import RecordReader
from hmi.store.requests import StoreRequests
from hmi.store.seals import SealBook
from hmi.store.reserve import RecordsOpened
from hmi.store.sequence import SequenceAllocator
from hmi.store.thresholds import ThresholdLog
from hmi.store.users import UserDirectory
from hmi.store.writer import AlarmLog


def build_station(cfg: StationConfig, data_dir: Path, *, source: FrameSource | None = None, max_parts: int = 0,
                  records: bool = True, require_model: bool = True,
                  outputs: Sequence[OutputFactory] = (), judging: JudgingSetup | None = None,
                  accept_on_screen: bool = False) -> Station:
    """The station `cfg` describes, wired and ready to start (not started); its `stop()` releases what this opened.

    source: the camera or replay to judge; None opens the configured one (`[camera]`, the demo frames by default).
    max_parts: the camera stops after this many parts (0: never).
    records: False builds the bare judging core (no records, PLC or outputs), as `hmi bench` measures it;
    a station in setup mode records nothing either.
    require_model: False builds the station although the recipe's model cannot be loaded (it then judges
    every part NOT_INSPECTED with the reason) instead of raising ModelError.
    outputs: one factory per further output, each called with its OutputFeed, after those `cfg` configures
    (`[plant]` database, `[opcua]`, `[mqtt]`).
    judging: the setup to judge with instead of the recipe's model and thresholds, for the recipe in force
    (`hmi inspect --model`: another model package with its own default thresholds); None loads the recipe's.
    accept_on_screen: settings changed outside the station (hmi.changes.seals) leave the station built but
    judging every part NOT_INSPECTED until accepted on the screen; without it they raise UnacceptedChanges.
    """
    production = cfg.station.mode == "production"
    keep_records = records and production
    # Before the camera opens: a camera kind changed outside the station is named as such, not tried.
    unaccepted = _unaccepted(data_dir, accept_on_screen) if keep_records else ""
    if source is None:
        source = open_source(cfg.camera, demo_frames_dir())
    with ExitStack() as opened:  # released here if building fails, else handed to the station
        if records:
            # Refuses a foreign or newer database before anything starts; its connection becomes the store thread's.
            records_file = opened.enter_context(RecordsOpened(data_dir))
        recipe = load_recipe(data_dir, cfg.station.recipe)
        if judging is not None and judging.recipe != recipe.name:
            raise ValueError(f"a judging setup for recipe {judging.recipe!r} given to a station of recipe "
                             f"{recipe.name!r}")
        # The one setup in force; settings changed outside the station and not accepted judge nothing.
        active = ActiveSetup(judging or (judging_setup(recipe, None, unaccepted) if unaccepted
                                         else _judging_setup(cfg, data_dir, recipe, require_model)))
        q = judging_queues(cfg.pipeline, production=production, records=keep_records)
        alarms = AlarmBoard()
        state = StationStateWatch(alarms)
        metrics = {stage: StageMetrics(stage) for stage in ("capture", "inference", "verdicts")}
        outlet = VerdictOutlet(metrics["verdicts"], q.newest, q.records_in, alarms)
        # Holds, monitors, records, images, PLC and outputs read each part's own setup (Part.setup): nothing
        # here is given a copy of the recipe to keep in step.
        holds = HoldQueue(q.reviews, alarms=alarms)
        reject_monitor = RejectRateMonitor(alarms)
        lighting_monitor = LightingDriftMonitor(alarms)
        if keep_records:  # a bare core (`hmi bench`, `hmi inspect`) has nobody to review: its HOLD parts are not kept
            outlet.subscribe(lambda part: holds.add(part) if part.verdict is Verdict.HOLD else None)
        if production:
            outlet.subscribe(reject_monitor)
            outlet.subscribe(lighting_monitor)  # idle while the recipe has no lighting reference
        downstream: RecordsAndPlc | None = None
        stores: _RecordStores | None = None
        added: list[Output] = []
        if keep_records and q.records_in is not None:
            rq = records_queues(cfg.pipeline)
            alarms.subscribe(AlarmLog(rq.alarm_events))
            holds.subscribe(rq.plc_reviews.offer)
            downstream = RecordsAndPlc(cfg, data_dir, rq, records_in=q.records_in, reviews=q.reviews, alarms=alarms,
                                       connection=records_file.take())
            opened.callback(downstream.close)
            stores = _RecordStores.open(data_dir, downstream.writes, opened, cfg.users.min_pin_length)
            stores.seals.seal_first_start()  # a station that never sealed anything seals what it finds
            added = [_output(factory, i, cfg, data_dir, alarms, state, outlet, holds, stores.users)
                     for i, factory in enumerate([*configured_outputs(cfg), *outputs])]

        trigger = TriggerMode(cfg.camera.trigger) if production else TriggerMode.FREE_RUN
        p = cfg.pipeline
        credits = threading.Semaphore(p.max_in_flight) if trigger is TriggerMode.SOFTWARE else None
        supervisor = Supervisor(alarms)
        supervisor.add(HoldTimer(holds))
        inference = supervisor.add(InspectionWorker(
            q.frames, active, outlet, alarms, metrics["inference"], deadline_s=p.deadline_ms / 1000.0, credits=credits))
        capture = supervisor.add(CaptureWorker(
            source, q.frames, outlet, stores.sequence.next if stores else itertools.count(1).__next__,
            lambda: active.get().carried, alarms, metrics["capture"], trigger=trigger, production=production,
            credits=credits, rate_hz=cfg.camera.rate_hz, grab_timeout_s=cfg.camera.grab_timeout_ms / 1000.0,
            reconnect_s=cfg.camera.reconnect_s, max_parts=max_parts, model_free_at=inference.expected_free_at))

        audit = downstream.audit if downstream is not None else audit_not_recorded
        changes = SetupChanges(cfg, data_dir, recipe, active, audit=audit, users=stores.users if stores else None,
                               threshold_log=stores.thresholds if stores else None, camera=capture.call,
                               seals=stores.seals if stores else None)
        if stores is not None:
            stores.seals.after_accept = lambda signer: changes.changeover(
                cfg.station.recipe, f"settings accepted by {signer.name}", "put in force after the acceptance")
        for o in added:
            supervisor.watch(*o.workers())
        recipe_requests = None
        if downstream is not None:
            supervisor.watch(*downstream.workers())
            recipe_requests = supervisor.add(PlcRecipeRequests(changes, downstream.plc_status, alarms))
        station = Station(
            cfg=cfg, data_dir=data_dir, active=active, alarms=alarms, frames=q.frames, newest=q.newest,
            records_in=q.records_in, reviews=q.reviews, capture_metrics=metrics["capture"],
            inference_metrics=metrics["inference"], verdict_metrics=metrics["verdicts"], outlet=outlet, holds=holds,
            reject_monitor=reject_monitor, lighting_monitor=lighting_monitor, supervisor=supervisor,
            inference=inference, capture=capture, changes=changes, teaching=Teaching(data_dir, q.newest),
            reports=ReportWorker(),
            audit_trail=audit, users=stores.users if stores else None, records=stores.records if stores else None,
            downstream=downstream, outputs=added, state=state, recipe_requests=recipe_requests, resources=opened.pop_all())
    return station


@dataclass(frozen=True)
class _RecordStores:
    """What reads the records beside the store thread; their writes go to it as requests (`writes`)."""

    sequence: SequenceAllocator   # part numbers in blocks reserved ahead by the store (called on the capture thread)
    users: UserDirectory
    records: RecordReader
    thresholds: ThresholdLog
    seals: SettingSeals           # the station file, recipes and users checked against their seals

    @classmethod
    def open(cls, data_dir: Path, writes: StoreRequests, opened: ExitStack, min_pin_length: int) -> _RecordStores:
        """Open them, each registered in `opened` to be closed."""
        db = database_path(data_dir)
        sequence = SequenceAllocator(writes)  # asks for its first block now, so the camera never waits at start
        opened.callback(sequence.close)
        users = UserDirectory(db, writes=writes, min_secret_len=min_pin_length)
        opened.callback(users.close)
        thresholds = ThresholdLog(db, writes=writes)
        opened.callback(thresholds.close)
        seals = SettingSeals(data_dir, SealBook(db, writes=writes), users, thresholds)
        opened.callback(seals.close)
        return cls(sequence, users, RecordReader(db), thresholds, seals)


def _unaccepted(data_dir: Path, on_screen: bool) -> str:
    """Why the station judges nothing ('' when every setting matches its seal); UnacceptedChanges unless the
    screen is there to accept them. Read before the camera, the model, the records and the PLC start."""
    db = database_path(data_dir)
    if not db.exists():  # a new station: it seals what it finds once its records are made
        return ""
    refuse_unknown(db)  # a foreign log, a newer schema or a dropped table is named first, as opening would
    book = SealBook(db)  # reads only: seals are written by the store's writer
    try:
        changes = SettingSeals(data_dir, book, None).changes()
    finally:
        book.close()
    if not changes:
        return ""
    if not on_screen:
        raise UnacceptedChanges(changes)
    return UnacceptedChanges(changes).what


def _judging_setup(cfg: StationConfig, data_dir: Path, recipe: Recipe, require_model: bool) -> JudgingSetup:
    """The recipe's model and thresholds; without `require_model`, a setup that names why there is no model."""
    try:
        inspector, problem = load_inspector(cfg, data_dir, recipe), ""
    except ModelError as exc:
        if require_model:
            raise
        inspector, problem = None, str(exc)
    return judging_setup(recipe, inspector, problem)


def _output(factory: OutputFactory, index: int, cfg: StationConfig, data_dir: Path, alarms: AlarmBoard,
            state: StationStateWatch, outlet: VerdictOutlet, holds: HoldQueue, users: UserDirectory) -> Output:
    """One added output, fed every decided part and every HOLD part's final verdict through queues of its own
    (offered: a full queue never slows judging), and the station's users to check logins against."""
    parts = output_queue(cfg.pipeline, f"output {index + 1}")
    # A part without a number (the store stalled) is neither recorded nor signalled: outputs do not see it either.
    outlet.subscribe(lambda part: parts.offer(part) if part.seq != UNNUMBERED else None)
    reviews = output_reviews_queue(cfg.pipeline, f"output {index + 1}")
    holds.subscribe(reviews.offer)  # as the records and the PLC get them
    return factory(OutputFeed(cfg, data_dir, alarms, parts, state, reviews, users))


__all__ = ["build_station"]
