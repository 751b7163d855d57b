"""An output added through the builder (as the plant database, OPC UA and MQTT outputs are): it gets every
decided part and every HOLD part's final verdict on queues of its own and the station's users for logins,
starts after the records and before the camera, stops after the camera and before the records, and shows in
the station's health; an output that falls behind never slows judging."""

from __future__ import annotations

import threading
import time

from hmi.core.part import UNNUMBERED, CameraSettings, Decision, Part, utc_now
from hmi.core.verdict import Verdict
from hmi.pipeline.worker import Worker, WorkerState
from hmi.station import OutputFeed
from tests.support.stations import PIN, replay_station
from tests.support.waiting import wait_for


def _running() -> set[str]:
    """The station threads alive now, by role."""
    return {t.name for t in threading.enumerate() if t.is_alive()} & {"store", "plc", "capture", "inference"}


class PartNumbers(Worker):
    """Takes the parts off the output's queue once allowed to, and keeps their numbers (MQTT would send them)."""

    role = "test output"

    def __init__(self, feed: OutputFeed) -> None:
        super().__init__()
        self.feed, self.may_take, self.seqs = feed, threading.Event(), []

    def loop_once(self) -> None:
        if self.may_take.wait(0.05) and (part := self.feed.parts.take(0.05)) is not None:
            self.seqs.append(part.seq)

    def teardown(self) -> None:
        while (part := self.feed.parts.take_nowait()) is not None:
            self.seqs.append(part.seq)


class RecordingOutput:
    """An Output that notes which station threads were running when it was started and stopped."""

    def __init__(self, feed: OutputFeed) -> None:
        self.worker, self.seen = PartNumbers(feed), []

    def start(self) -> None:
        self.seen.append(("start", _running()))
        self.worker.start()

    def stop(self) -> None:
        self.seen.append(("stop", _running()))
        self.worker.stop()
        self.worker.join(5.0)

    def workers(self) -> list:
        return [self.worker]


def test_an_added_output_gets_every_part_in_the_fixed_start_and_stop_order(tmp_path, tiny_model):
    made: list[RecordingOutput] = []

    def factory(feed: OutputFeed) -> RecordingOutput:
        made.append(RecordingOutput(feed))
        return made[-1]

    station = replay_station(tmp_path, tiny_model, ["ok", "ng", "hold"] * 4, rate_hz=0.0,
                             overrides=["pipeline.result_queue=4"], outputs=[factory])
    output = made[0]
    assert station.outputs == [output] and output.worker.feed.parts.maxsize == 4
    station.start()
    try:
        deadline = time.monotonic() + 30
        while station.outlet.counts().total < 20:  # the output takes nothing yet: its queue fills, judging goes on
            assert time.monotonic() < deadline and not station.supervisor.failed()
            time.sleep(0.02)
        assert output.worker.feed.parts.refused > 0
        assert "test output" in [w.role for w in station.status().workers]
        output.worker.may_take.set()
    finally:
        station.stop()
    assert output.seen == [("start", {"store", "plc"}), ("stop", {"store", "plc"})]
    assert output.worker.state is WorkerState.STOPPED
    assert len(output.worker.seqs) + output.worker.feed.parts.refused == station.outlet.counts().total


def test_an_output_never_sees_a_part_the_station_could_not_number(tmp_path, tiny_model):
    made: list[RecordingOutput] = []

    def factory(feed: OutputFeed) -> RecordingOutput:
        made.append(RecordingOutput(feed))
        return made[-1]

    station = replay_station(tmp_path, tiny_model, ["ok"], rate_hz=0.0, outputs=[factory])
    try:
        mono = time.monotonic()
        for seq in (UNNUMBERED, 7):  # the first as when the store stalled: NOT_INSPECTED, no record, no PLC result
            part = Part(seq, utc_now(), mono, CameraSettings("cam", 1.0, 0.0), "r")
            station.outlet.publish(part.decided(Decision(Verdict.NOT_INSPECTED, "no part number", 1, utc_now(), mono)))
        parts = made[0].worker.feed.parts
        assert [p.seq for p in iter(parts.take_nowait, None)] == [7]
    finally:
        station.stop()


def test_an_output_gets_each_hold_parts_final_verdict_and_checks_logins_through_the_station(tmp_path, tiny_model):
    made: list[RecordingOutput] = []

    def factory(feed: OutputFeed) -> RecordingOutput:
        made.append(RecordingOutput(feed))
        return made[-1]

    station = replay_station(tmp_path, tiny_model, ["hold", "ok"], rate_hz=20.0, max_parts=2, outputs=[factory])
    feed = made[0].worker.feed
    assert feed.reviews.maxsize == station.cfg.pipeline.review_queue and feed.users is station.users
    station.start()
    try:
        held = wait_for(lambda: station.holds.pending(), "the HOLD part on the review list")[0].part.seq
        olga = feed.users.authenticate("olga", PIN["olga"])  # as an output checks a login: audited by the station
        given = station.review(held, Verdict.NG, olga, "dent")
        assert wait_for(feed.reviews.take_nowait, "the review on the output's own queue") == given
    finally:
        station.stop()
