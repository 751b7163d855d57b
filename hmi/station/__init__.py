"""The station's one composition root: `build_station` wires camera, judging, records, PLC and outputs."""

from hmi.station.build import build_station
from hmi.pipeline.outputs import Output, OutputFactory, OutputFeed
from hmi.station.station import Station, StationStatus

__all__ = ["build_station", "Station", "StationStatus", "Output", "OutputFactory", "OutputFeed"]
