"""A real station keeps judging at its pace while its HOLD list and then its records queue are full."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from dataclasses import replace

import pytest

from hmi.camera.factory import open_source
from hmi.config.loader import load_station
from hmi.core.alarm_catalogue import RECORDS_BACKLOG
from hmi.pipeline.worker import WorkerState
from hmi.station import build_station
from tests.support.waiting import wait_for



def _rows(data, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(data / "hmi.db")) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.expected_errors("refused by the full records queue")
def test_a_station_keeps_judging_with_its_hold_list_and_its_records_queue_full(line):
    data, frames = line
    cfg = load_station(data, ["station.recipe=tiny", "camera.kind=replay", f"camera.replay_path={frames}",
                              "camera.rate_hz=0", "inference.threads=1", "pipeline.result_queue=4",
                              "plc.mode=simulated"])
    st = build_station(cfg, data, source=open_source(cfg.camera, frames))
    setup = st.active.get()  # every part is borderline: each one is held for review
    st.active.set(replace(setup, thresholds=replace(setup.thresholds, hold_below=1000.0, hold_above=1000.0)))
    st.holds.capacity = 3
    writer, plc = st.downstream.writer, st.downstream.simulated_plc
    store_may_write = threading.Event()
    store_may_write.set()
    store_parked = threading.Event()
    write = writer.loop_once

    def held_back_store() -> None:  # the store thread stops taking records while the event is clear
        if store_may_write.wait(0.05):
            write()
        else:
            store_parked.set()  # past any write it was in when the event was cleared

    writer.loop_once = held_back_store
    st.start()
    try:
        wait_for(lambda: st.holds.overflowed >= 30, "30 held parts beyond the full HOLD list")
        store_may_write.clear()
        wait_for(store_parked.is_set, "the store thread to stop taking records")
        wait_for(lambda: st.outlet.unrecorded > 0, "the records queue to fill")
        full_at = st.outlet.counts().total
        wait_for(lambda: st.outlet.counts().total >= full_at + 100, "100 parts judged with the records queue full")
        assert len(st.records_in) == st.records_in.maxsize  # the store took nothing meanwhile
        assert st.inference.state is WorkerState.RUNNING
        assert st.outlet.unrecorded >= 100 and any(a.code == RECORDS_BACKLOG.code for a in st.alarms.snapshot())
        store_may_write.set()
        wait_for(lambda: st.outlet.backlog == 0, "the refused parts' records to reach the store")
    finally:
        store_may_write.set()
        st.stop()
    judged, refused, held_over = st.outlet.counts().total, st.outlet.unrecorded, st.holds.overflowed
    assert _rows(data, "SELECT count(*) FROM inspections") == [(judged,)]  # every judged part has its row
    late = _rows(data, "SELECT seq, auto_verdict, plc_status FROM inspections WHERE reason LIKE 'records queue full%'")
    assert len(late) == refused and {(v, s) for _, v, s in late} == {("NOT_INSPECTED", "not_delivered")}
    assert not {seq for seq, _, _ in late} & {r.seq for r in plc.results()}  # the PLC never got a result for them
    assert _rows(data, "SELECT count(*), min(verdict), max(verdict), min(reviewed_by) FROM inspections "
                       "WHERE review_note LIKE 'HOLD list full%'") == [(held_over, "NG", "NG", "system")]
