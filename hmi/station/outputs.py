"""Where a new output (plant database, OPC UA, MQTT) plugs into the station: what it gets and what it offers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hmi.config.schema import StationConfig
from hmi.core.alarms import AlarmBoard
from hmi.core.part import Part
from hmi.pipeline.queues import BoundedQueue
from hmi.pipeline.worker import Worker


@dataclass(frozen=True)
class OutputFeed:
    """What the builder hands an output: the config, the data folder, the alarm board and its own parts queue.

    `parts` receives every decided part as the verdict outlet publishes it (before the store commits
    it), offered and never waited on: when the output falls behind, the queue refuses and counts
    (`parts.refused`) and judging goes on. An output that must report only recorded parts reads
    the records instead (replication from a watermark).
    """

    cfg: StationConfig
    data_dir: Path
    alarms: AlarmBoard
    parts: BoundedQueue[Part]


class Output(Protocol):
    """An output beside the records and the PLC; it owns its threads and opens nothing before `start`."""

    def start(self) -> None:
        """Start its threads (after the records, before the judging core)."""

    def stop(self) -> None:
        """Deliver or buffer what it can, then end its threads (after the judging core stopped)."""

    def workers(self) -> list[Worker]:
        """Its workers, for the health panel."""


# build_station(..., outputs=[factory, ...]) calls each factory once with the output's feed.
OutputFactory = Callable[[OutputFeed], Output]
