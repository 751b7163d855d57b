"""Build the PLC stage from the station's configuration: the composition root's only door into hmi.plc."""

from __future__ import annotations

from collections.abc import Sequence

from hmi.config.schema import PlcConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.messages import OperatorReview, PlcDelivery
from hmi.core.part import Part
from hmi.pipeline.queues import BoundedQueue
from hmi.plc.left_pending import RecordWrites
from hmi.plc.signaller import NullSignaller, PlcSignaller
from hmi.plc.simulator import SimulatedPlc


def create_signaller(cfg: PlcConfig, parts_in: BoundedQueue[Part], reviews_in: BoundedQueue[OperatorReview],
                     deliveries_out: BoundedQueue[PlcDelivery], alarms: AlarmBoard,
                     defect_types: Sequence[str] = (), records: RecordWrites | None = None) -> PlcSignaller | NullSignaller:
    """The PLC worker for `cfg.mode`: a signaller for s7 and simulated, the PLC_OFF stand-in for off.

    For mode simulated, start the simulated PLC first and pass `simulated_link(cfg, plc)` as `cfg`.
    Both variants are Workers with `status()`, `signal_fault()` and `clear_fault()`. Each part is coded by the
    defect types of the recipe it was judged with (`Part.setup`); `defect_types` only codes parts without one.
    `records` is the store's door for requests (`RecordsAndPlc.writes`), given before the store thread starts:
    the signaller then reads the rows a killed run left pending and settles them from the PLC's ring.
    """
    if cfg.mode == "off":
        return NullSignaller(cfg, parts_in, reviews_in, deliveries_out, alarms)
    return PlcSignaller(cfg, parts_in, reviews_in, deliveries_out, alarms, defect_types, records=records)


def start_simulated_plc(cfg: PlcConfig) -> SimulatedPlc:
    """Start the in-process simulated PLC on 127.0.0.1 (any free port) holding DB `cfg.db`; returns it running."""
    return SimulatedPlc(db=cfg.db, port=0).start()


def simulated_link(cfg: PlcConfig, plc: SimulatedPlc) -> PlcConfig:
    """`cfg` pointed at the running simulated PLC (its host and port)."""
    return cfg.model_copy(update={"host": plc.host, "port": plc.port})

