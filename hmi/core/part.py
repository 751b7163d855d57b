"""The one packet that travels the line, filled in stage by stage (DESIGN.md, data flows one way)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from hmi.core.verdict import Verdict


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

    def inspected(self, inspection: Inspection) -> "Part":
        """This part with the model's findings filled in."""
        return dataclasses.replace(self, inspection=inspection)

    def decided(self, decision: Decision) -> "Part":
        """This part with its automatic verdict filled in."""
        return dataclasses.replace(self, decision=decision)

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
