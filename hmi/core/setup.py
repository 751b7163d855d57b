"""The setup a part is judged with: one frozen value, put in force whole and carried by the part to every stage."""

from __future__ import annotations

from dataclasses import dataclass

from hmi.core.verdict import Verdict


@dataclass(frozen=True)
class LightingReference:
    """The brightness the recipe was set up with; every N-th frame is compared with it (mean 0: none saved)."""

    mean: float = 0.0
    limit_pct: float = 15.0
    every_n: int = 10


@dataclass(frozen=True)
class SetupInForce:
    """What a part was judged with, as every stage after judging reads it from the part.

    The holds, the monitors, the records, the image writer, the PLC signaller and the added outputs
    read this from each part, so a part still in flight during a changeover keeps the recipe it was
    judged with: its name and threshold version in the records, its defect codes on the PLC.
    """

    recipe: str
    threshold_version: int
    model: str = ""
    model_sha256: str = ""
    defect_types: tuple[str, ...] = ()
    hold_timeout_s: float = 300.0
    hold_default: Verdict = Verdict.NG
    reject_rate_limit: float = 0.2
    lighting: LightingReference = LightingReference()
    heat_limits: tuple[float, float] | None = None  # the stored anomaly map's colour scale (cold, hottest)

    def defect_code(self, defect_type: str | None) -> int:
        """The PLC's code of a defect type: its place in the recipe's list from 1; 0 when the recipe lacks it."""
        try:
            return self.defect_types.index(defect_type) + 1  # type: ignore[arg-type]
        except ValueError:
            return 0
