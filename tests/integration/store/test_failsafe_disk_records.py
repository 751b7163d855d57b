"""A full disk: no result reaches the PLC before its row is committed, with the verdict the row holds.

The database is a real SQLite file whose disk "fills" through `PRAGMA max_page_count` (tests/support/full_disk.py):
SQLite's own SQLITE_FULL error path, as on a disk without room. While the records' reserve lasts, every part
goes to the PLC as NOT_INSPECTED with a durable row; once it is used up, parts get no result at all and the
PLC is told the station has a fault; when space returns the store catches up and judging resumes by itself.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field

import pytest

from hmi.config.schema import StoreConfig
from hmi.core.alarm_catalogue import DISK_FULL, STORE_WRITE
from hmi.core.alarms import AlarmBoard
from hmi.core.verdict import Verdict
from hmi.pipeline.queues import BoundedQueue
from hmi.store.queries import integrity_check
from hmi.store.reserve import MB
from hmi.store.writer import NOT_SENT, ON_RESERVE
from tests.support.full_disk import FillingDisk
from tests.support.waiting import wait_for

FULL_ERRORS = ("the disk is full", "database write failed: database or disk is full",
               "writes could not be saved before shutdown")


@dataclass
class Line:
    """One store thread with its queues, the PLC's side of it (what it was sent), and the faults it was told."""

    writer: FillingDisk
    parts: BoundedQueue
    committed: BoundedQueue
    deliveries: BoundedQueue
    alarms: AlarmBoard
    faults: list[bool] = field(default_factory=list)
    sent: list = field(default_factory=list)
    offered: int = 0

    def offer(self, make, n: int, verdict: Verdict = Verdict.OK) -> list[int]:
        """Queue `n` new parts judged `verdict`; their sequence numbers."""
        seqs = list(range(self.offered + 1, self.offered + n + 1))
        for seq in seqs:
            assert self.parts.offer(make(seq, verdict))
        self.offered += n
        return seqs

    def take_sent(self) -> list:
        """What reached the PLC's queue since the last look; each checked against the committed row first."""
        got = []
        while (part := self.committed.take_nowait()) is not None:
            got.append(part)
        with closing(sqlite3.connect(f"{self.writer.db_path.as_uri()}?mode=ro", uri=True)) as conn:
            for part in got:
                row = conn.execute("SELECT auto_verdict FROM inspections WHERE seq = ?", (part.seq,)).fetchone()
                assert row == (part.verdict.name,), f"part {part.seq} reached the PLC without its row as sent"
        self.sent += got
        return got


@pytest.fixture
def line(tmp_path):
    made: list[Line] = []

    def build(*, full: bool = False, reserve_mb: int = 1) -> Line:
        q = {name: BoundedQueue(name, 100_000) for name in ("parts", "committed", "deliveries")}
        alarms = AlarmBoard()
        faults: list[bool] = []
        writer = FillingDisk(tmp_path / "data" / "hmi.db", q["parts"], q["committed"], alarms,
                             StoreConfig(records_reserve_mb=reserve_mb), deliveries=q["deliveries"],
                             plc_fault=faults.append, full=full, retry_s=0.05, disk_check_s=0.05)
        made.append(Line(writer, q["parts"], q["committed"], q["deliveries"], alarms, faults))
        writer.start()
        return made[-1]

    yield build
    for ln in made:
        _stopped(ln.writer)


def _stopped(writer: FillingDisk) -> None:
    """Stop the store thread (it writes what it can on the way out) and check it ended without an error."""
    writer.stop()
    assert writer.join(10), "the store thread did not stop"
    assert writer.error is None, writer.error_text()


def _rows(ln: Line, sql: str, args: tuple = ()) -> list[tuple]:
    with closing(sqlite3.connect(ln.writer.db_path)) as conn:
        return conn.execute(sql, args).fetchall()


def _fill_until(ln: Line, make, alarm, what: str) -> None:
    """Offer parts in bursts until `alarm` is active (the store has taken each burst before the next)."""
    def burst() -> bool:
        if ln.alarms.is_active(alarm):
            return True
        if len(ln.parts) == 0:
            ln.offer(make, 100)
        return False
    wait_for(burst, what, timeout_s=60)
    wait_for(lambda: len(ln.parts) == 0, "the store to take the last burst")


@pytest.mark.expected_errors(*FULL_ERRORS)
def test_a_disk_that_fills_sends_parts_as_not_inspected_then_none_and_recovers(line, decided_part):
    ln = line()
    wait_for(lambda: ln.writer.room.reserve >= MB, "the reserve inside the database")
    judged = ln.offer(decided_part, 20, Verdict.NG)
    wait_for(lambda: len(ln.sent) + len(ln.take_sent()) >= 20, "the parts judged while the disk had room")
    assert [p.verdict for p in ln.sent] == [Verdict.NG] * 20

    ln.writer.full.set()  # the disk is full: the reserve inside the file is all the records have left
    _fill_until(ln, decided_part, DISK_FULL, "the store to notice the full disk")
    on_reserve = ln.offer(decided_part, 50)
    wait_for(lambda: {p.seq for p in ln.sent + ln.take_sent()} >= set(on_reserve), "the parts judged on the reserve")
    assert {p.verdict for p in ln.sent if p.seq in on_reserve} == {Verdict.NOT_INSPECTED}
    assert ln.faults == [] and not ln.alarms.is_active(STORE_WRITE)  # the line runs: every part a reject
    seqs = ",".join(map(str, on_reserve))
    (reason,) = {r for (r,) in _rows(ln, f"SELECT reason FROM inspections WHERE seq IN ({seqs})")}
    assert reason.startswith(ON_RESERVE) and "judged OK" in reason

    _fill_until(ln, decided_part, STORE_WRITE, "the reserve to run out")
    assert ln.faults == [True]  # the PLC is told the station has a fault: it rejects every part
    ln.take_sent()
    unsent_before = ln.writer.unsent
    none_sent = ln.offer(decided_part, 30)
    wait_for(lambda: ln.writer.unsent >= unsent_before + 30, "the store to take the parts it cannot record")
    assert not set(none_sent) & {p.seq for p in ln.sent + ln.take_sent()}  # no result without a row

    ln.writer.full.clear()  # space returns
    wait_for(lambda: not ln.alarms.is_active(STORE_WRITE), "the records to be written again", timeout_s=30)
    wait_for(lambda: not ln.alarms.is_active(DISK_FULL), "judging to resume", timeout_s=30)
    assert ln.faults == [True, False]
    after = ln.offer(decided_part, 10)
    wait_for(lambda: {p.seq for p in ln.sent + ln.take_sent()} >= set(after), "the parts judged again")
    assert {p.verdict for p in ln.sent if p.seq in after} == {Verdict.OK}

    _stopped(ln.writer)
    rows = dict(_rows(ln, "SELECT seq, auto_verdict FROM inspections"))
    assert sorted(rows) == list(range(1, ln.offered + 1))  # nothing lost from the records
    assert all(rows[p.seq] == p.verdict.name for p in ln.sent)
    unsent = _rows(ln, f"SELECT DISTINCT auto_verdict, substr(reason, 1, {len(NOT_SENT)}), plc_status FROM "
                       f"inspections WHERE seq IN ({','.join(map(str, none_sent))})")
    assert unsent == [("NOT_INSPECTED", NOT_SENT, "not_delivered")]
    assert len(judged) == 20 and integrity_check(ln.writer.db_path) == "ok"


@pytest.mark.expected_errors(*FULL_ERRORS)
def test_started_on_a_full_disk_with_no_reserve_left_the_plc_gets_nothing_until_space_returns(line, decided_part):
    ln = line(full=True)  # a new database on a disk with no room: the reserve was never made
    first = ln.offer(decided_part, 40)
    wait_for(lambda: ln.writer.unsent >= 40, "the store to take the parts it cannot record")
    assert ln.faults == [True] and ln.alarms.is_active(STORE_WRITE)
    assert ln.take_sent() == []
    ln.writer.full.clear()
    wait_for(lambda: not ln.alarms.is_active(STORE_WRITE) and not ln.alarms.is_active(DISK_FULL),
             "the station to recover by itself", timeout_s=30)
    after = ln.offer(decided_part, 10, Verdict.NG)
    wait_for(lambda: len(ln.take_sent()) + len(ln.sent) >= 10, "the parts judged after space returned")
    assert [(p.seq, p.verdict) for p in ln.sent] == [(s, Verdict.NG) for s in after]
    assert ln.faults == [True, False]
    wait_for(lambda: len(_rows(ln, "SELECT seq FROM inspections WHERE plc_status = 'not_delivered'")) == 40,
             "the parts that got no result recorded as such")
    assert {s for (s,) in _rows(ln, "SELECT seq FROM inspections WHERE plc_status = 'not_delivered'")} == set(first)


@pytest.mark.expected_errors(*FULL_ERRORS)
def test_started_on_a_full_disk_with_its_reserve_every_part_gets_a_durable_row(line, decided_part):
    ln = line()
    wait_for(lambda: ln.writer.room.reserve >= MB, "the reserve inside the database")
    _stopped(ln.writer)
    again = line(full=True)  # the same database, started again on a disk that filled meanwhile
    _fill_until(again, decided_part, DISK_FULL, "the store to find the disk full")
    seqs = again.offer(decided_part, 100)
    wait_for(lambda: {p.seq for p in again.sent + again.take_sent()} >= set(seqs), "every part's result")
    assert {p.verdict for p in again.sent if p.seq in seqs} == {Verdict.NOT_INSPECTED}
    assert again.faults == [] and not again.alarms.is_active(STORE_WRITE)  # the line runs, rejecting every part
    again.writer.full.clear()
    wait_for(lambda: not again.alarms.is_active(DISK_FULL), "judging to resume", timeout_s=30)


@pytest.mark.expected_errors(*FULL_ERRORS)
def test_the_whole_reserve_is_held_and_a_busy_line_cannot_use_it_up_before_the_disk_is_found_full(line, decided_part):
    ln = line(reserve_mb=3)  # more than one step: the reserve is made a step at a time
    wait_for(lambda: ln.writer.room.reserve >= 3 * MB, "the whole reserve inside the database")
    judged = ln.offer(decided_part, 500)
    wait_for(lambda: {p.seq for p in ln.sent + ln.take_sent()} >= set(judged), "the parts judged with room")
    assert _rows(ln, "SELECT sum(length(room)) FROM records_reserve") == [(3 * MB,)]  # the parts took none of it
    ln.writer.full.set()  # the file cannot grow: the reserve is all the records have left
    busy = ln.offer(decided_part, 3000)  # batch after batch: the store never idle, never a look at the disk between
    wait_for(lambda: {p.seq for p in ln.sent + ln.take_sent()} >= set(busy), "every part's result")
    assert Verdict.NOT_INSPECTED in {p.verdict for p in ln.sent if p.seq in busy}  # rejected from the refused write on
    assert ln.faults == [] and not ln.alarms.is_active(STORE_WRITE)  # the reserve took them: the line runs
