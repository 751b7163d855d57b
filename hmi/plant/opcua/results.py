"""A decided part as OPC 40100 result fields: what the ResultReady event and the result management show."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from hmi.core.part import Part
from hmi.core.verdict import Verdict

# OPC 40100-1 12.19 ResultStateDataType (an Int32, not an enumeration).
RESULT_COMPLETED = 1  # processing was carried out correctly
RESULT_FAILED = 4     # processing failed in some way: the part is NOT_INSPECTED (and rejected)


@dataclass(frozen=True)
class VisionResult:
    """One part's result, in the field names of OPC 40100 (ResultId ... CreationTime) and the station's own."""

    result_id: str          # ResultId: the part's sequence number, in decimal
    seq: int
    is_partial: bool        # IsPartial: always False (a verdict is whole; an operator's review is not republished)
    is_simulated: bool      # IsSimulated: the camera is the emulator or a replay, not a real camera
    result_state: int       # ResultState: RESULT_COMPLETED or RESULT_FAILED
    recipe: str             # InternalRecipeId
    part_id: str            # PartId: the part id the line gave, or ""
    creation_time: datetime  # CreationTime: when the verdict was decided (UTC)
    capture_time: datetime   # CaptureTime: when the image was exposed (UTC)
    verdict: str            # Verdict: OK, NG, HOLD or NOT_INSPECTED
    verdict_code: int       # VerdictCode: the PLC's code (1 OK, 2 NG, 3 HOLD, 4 NOT_INSPECTED)
    score: float            # Score: the image score; NaN when the part was not inspected
    threshold_version: int  # ThresholdVersion: the threshold set it was judged by
    model_name: str         # ModelName
    model_sha256: str       # ModelSha256: the ONNX file's SHA-256
    defect_code: int        # DefectCode: the PLC's defect code (0: none)
    reason: str             # Reason: why the verdict, in plain words

    @classmethod
    def of(cls, part: Part, *, simulated: bool) -> VisionResult:
        """The result of a decided part (a part reaches the outputs only once decided)."""
        decision = part.decision
        if decision is None:
            raise ValueError(f"part {part.seq} has no verdict yet")
        inspection, setup = part.inspection, part.setup
        model_name = inspection.model_name if inspection else (setup.model if setup else "")
        model_sha = inspection.model_sha256 if inspection else (setup.model_sha256 if setup else "")
        return cls(
            result_id=str(part.seq), seq=part.seq, is_partial=False, is_simulated=simulated,
            result_state=RESULT_FAILED if decision.verdict is Verdict.NOT_INSPECTED else RESULT_COMPLETED,
            recipe=part.recipe, part_id=part.part_id or "", creation_time=decision.decided_at,
            capture_time=part.captured_at, verdict=decision.verdict.name, verdict_code=int(decision.verdict),
            score=float(inspection.score) if inspection else math.nan, threshold_version=decision.threshold_version,
            model_name=model_name, model_sha256=model_sha, defect_code=part.defect_code, reason=decision.reason)

    @property
    def message(self) -> str:
        """The event's Message: 'part 1234: NG (score 0.412)'."""
        score = "" if math.isnan(self.score) else f" (score {self.score:.3f})"
        return f"part {self.seq}: {self.verdict.replace('_', ' ')}{score}"
