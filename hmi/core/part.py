"""The one packet that travels the line, filled in stage by stage (DESIGN.md, data flows one way)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from hmi.core.setup import SetupInForce
from hmi.core.verdict import Verdict


# The number of a part the records could not number (the store did not answer): never recorded, never sent.
UNNUMBERED = 0


def utc_now() -> datetime:
    """Current wall-clock time in UTC, timezone-aware."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class CameraSettings:
    """Camera settings in force when a frame was exposed; stored with every record."""

    source: str
    exposure_us: float
    gain_db: float
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class DefectRegion:
    """One connected region judged anomalous, in frame pixel coordinates."""

    x: int
    y: int
    w: int
    h: int
    area_px: int
    peak_score: float
    contour: tuple[tuple[int, int], ...] = ()
    label: str = "anomaly"
    confidence: float | None = None


def backend_device(backend: str) -> str:
    """The device of an inspection's backend name: 'cpu-clusters' -> 'cpu', 'tensorrt-fp16' -> 'tensorrt'."""
    return backend.split("-", 1)[0]


@dataclass(frozen=True)
class Inspection:
    """What the model said about a part: image score, anomaly map and regions."""

    score: float
    regions: tuple[DefectRegion, ...]
    backend: str
    model_name: str
    model_sha256: str
    infer_ms: float
    # float32 map at model resolution, values on the same scale as `score`; upsample for display.
    anomaly_map: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Decision:
    """The automatic verdict and why, under a named threshold-set version."""

    verdict: Verdict
    reason: str
    threshold_version: int
    decided_at: datetime
    decided_mono: float
    # 0..1 that the part is defective, 0.5 at the NG limit (hmi.decision.policy); None when not inspected.
    confidence: float | None = None


@dataclass(frozen=True)
class Part:
    """A photographed part: capture data first, then inspection, then decision."""

    seq: int
    captured_at: datetime
    captured_mono: float
    camera: CameraSettings
    recipe: str
    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    capture_error: str | None = None
    part_id: str | None = None
    lot_id: str | None = None
    inspection: Inspection | None = None
    decision: Decision | None = None
    setup: SetupInForce | None = None  # what it was judged with; None only outside the station (tools, tests)

    def inspected(self, inspection: Inspection) -> "Part":
        """This part with the model's findings filled in."""
        return dataclasses.replace(self, inspection=inspection)

    def decided(self, decision: Decision) -> "Part":
        """This part with its automatic verdict filled in."""
        return dataclasses.replace(self, decision=decision)

    def judged_with(self, setup: SetupInForce) -> "Part":
        """This part stamped with the setup it is judged with (its recipe name follows)."""
        return dataclasses.replace(self, setup=setup, recipe=setup.recipe)

    @property
    def defect_code(self) -> int:
        """The PLC's defect code: its strongest region whose type its recipe lists; 0 when OK, unjudged or none."""
        if self.setup is None or self.verdict in (None, Verdict.OK) or self.inspection is None:
            return 0
        known = [r for r in self.inspection.regions if self.setup.defect_code(r.label)]
        if not known:
            return 0
        return self.setup.defect_code(max(known, key=lambda r: r.peak_score).label)

    @property
    def verdict(self) -> Verdict | None:
        """The automatic verdict, once decided."""
        return self.decision.verdict if self.decision else None

    @property
    def latency_ms(self) -> float | None:
        """Capture-to-verdict latency in milliseconds, once decided."""
        if self.decision is None:
            return None
        return (self.decision.decided_mono - self.captured_mono) * 1000.0
