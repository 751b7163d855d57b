"""A part in flight during a changeover keeps the setup it was judged with: in the records and on the PLC."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from hmi.config.schema import RecipeThresholds
from hmi.core.verdict import Verdict
from hmi.plc import layout
from hmi.store.database import database_path
from hmi.store.writer import RecordWriter
from tests.support.stations import FRAME, PIN, tiny_recipe, tiny_station, write_frames
from tests.support.waiting import wait_for

# The tiny model labels every region "anomaly": recipe A codes it 2, recipe B codes it 4.
TYPES_A = ["burr", "anomaly", "dent"]
TYPES_B = ["crack", "dent", "burr", "anomaly"]


class _GatedParts:
    """The store's view of its parts queue, shut while the gate is shut: parts wait in the records queue."""

    def __init__(self, parts, gate: threading.Event) -> None:
        self._parts, self._gate = parts, gate

    def take(self, timeout: float):
        if not self._gate.wait(timeout):
            return None
        return self._parts.take(0.0)

    def take_nowait(self):
        return self._parts.take_nowait() if self._gate.is_set() else None

    def __len__(self) -> int:
        return len(self._parts)


@pytest.fixture
def store_gate(monkeypatch):
    """A gate in front of the store thread's parts (its other work, such as audit entries, goes on)."""
    import hmi.station.records_and_plc as records_and_plc

    gate = threading.Event()

    class GatedWriter(RecordWriter):
        def __init__(self, db_path, parts, *args, **kwargs):
            super().__init__(db_path, _GatedParts(parts, gate), *args, **kwargs)

    monkeypatch.setattr(records_and_plc, "RecordWriter", GatedWriter)
    return gate


def test_a_part_judged_before_a_changeover_is_recorded_and_signalled_by_its_own_recipe(tmp_path, tiny_model,
                                                                                       store_gate):
    recipe_a = tiny_recipe("product-a", frame_size=FRAME, margin=16, defect_types=TYPES_A,
                           thresholds=RecipeThresholds(version=3, score=0.3, hold_below=0.05, hold_above=0.05))
    recipe_b = tiny_recipe("product-b", frame_size=FRAME, margin=16, defect_types=TYPES_B)
    station = tiny_station(tmp_path, tiny_model, [recipe_a, recipe_b], write_frames(tmp_path / "frames", ["ng"]),
                           settings=["plc.mode=simulated", "plc.delivery_deadline_ms=60000",
                                     "pipeline.deadline_ms=60000"], max_parts=1)
    try:
        station.start()
        wait_for(lambda: station.outlet.counts().total == 1, "the part judged under recipe A")
        part = station.outlet.recent()[-1]
        assert part.verdict is Verdict.NG and part.setup.recipe == "product-a"
        assert len(station.records_in) == 1  # still in flight: waiting for the store

        theo = station.users.authenticate("theo", PIN["theo"])
        station.changes.changeover("product-b", theo, "product change while a part is in flight",
                                   PIN["theo"])
        assert station.active.get().carried.defect_types == tuple(TYPES_B)

        store_gate.set()
        plc = station.downstream.simulated_plc
        wait_for(lambda: plc.read_header().newest_seq == layout.wire_seq(part.seq), "the part's result on the PLC")
        slot = plc.read_slot(layout.slot_index(part.seq))
        wait_for(lambda: _row(station, part.seq, "plc_status") == "delivered", "the PLC delivery in the records")
    finally:
        store_gate.set()
        station.stop()

    code_a = TYPES_A.index("anomaly") + 1
    assert code_a != TYPES_B.index("anomaly") + 1
    assert (slot.seq, slot.verdict, slot.defect_code) == (layout.wire_seq(part.seq), Verdict.NG, code_a)
    with sqlite3.connect(database_path(station.data_dir)) as conn:
        recipe, version, code = conn.execute("SELECT recipe, threshold_version, defect_code FROM inspections "
                                             "WHERE seq = ?", (part.seq,)).fetchone()
        labels = {r[0] for r in conn.execute("SELECT label FROM regions WHERE seq = ?", (part.seq,))}
    assert (recipe, version, code) == ("product-a", 3, code_a)
    assert "anomaly" in labels


def _row(station, seq: int, column: str):
    with sqlite3.connect(database_path(station.data_dir)) as conn:
        row = conn.execute(f"SELECT {column} FROM inspections WHERE seq = ?", (seq,)).fetchone()
    return row[0] if row else None
