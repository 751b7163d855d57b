"""A decided part as OPC 40100 result fields: what the ResultReady event and the result management show.

A HOLD part's result is partial (IsPartial, ResultState Processing: the operator has not decided yet); its
review, an operator's or the recipe's default when the review time ran out, is the final result with the
same ResultId.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime, timezone

from hmi.core.messages import OperatorReview
from hmi.core.part import Part
from hmi.core.verdict import Verdict
from hmi.pipeline.outputs import review_reason, reviewed_defect_code

# OPC 40100-1 12.19 ResultStateDataType (an Int32, not an enumeration).
RESULT_COMPLETED = 1   # processing was carried out correctly
RESULT_PROCESSING = 2  # processing has not finished yet: a HOLD part waiting for its review
RESULT_FAILED = 4      # processing failed in some way: the part is NOT_INSPECTED (and rejected)

NO_TIME = datetime(1601, 1, 1, tzinfo=timezone.utc)  # OPC UA's null DateTime: a time not known


@dataclass(frozen=True)
class VisionResult:
    """One part's result, in the field names of OPC 40100 (ResultId ... CreationTime) and the station's own."""

    result_id: str          # ResultId: the part's sequence number, in decimal
    seq: int
    is_partial: bool        # IsPartial: True for a HOLD part until its review (then the final result comes)
    is_simulated: bool      # IsSimulated: the camera is the emulator or a replay, not a real camera
    result_state: int       # ResultState: RESULT_COMPLETED, RESULT_PROCESSING (HOLD) or RESULT_FAILED
    recipe: str             # InternalRecipeId
    part_id: str            # PartId: the part id the line gave, or ""
    creation_time: datetime  # CreationTime: when this result's verdict was decided (UTC): the review's time if any
    capture_time: datetime   # CaptureTime: when the image was exposed (UTC)
    verdict: str            # Verdict: OK, NG, HOLD or NOT_INSPECTED
    verdict_code: int       # VerdictCode: the PLC's code (1 OK, 2 NG, 3 HOLD, 4 NOT_INSPECTED)
    score: float            # Score: the image score; NaN when the part was not inspected
    threshold_version: int  # ThresholdVersion: the threshold set it was judged by
    model_name: str         # ModelName
    model_sha256: str       # ModelSha256: the ONNX file's SHA-256
    defect_code: int        # DefectCode: the PLC's defect code (0: none)
    reason: str             # Reason: why the verdict, in plain words
    auto_verdict: str = ""  # AutoVerdict: the automatic verdict (HOLD for a reviewed part)
    reviewed_by: str = ""   # ReviewedBy: who gave the final verdict of a HOLD part ("" until reviewed)
    reviewed_automatically: bool = False  # ReviewedAutomatically: the review time ran out, the recipe's default

    @classmethod
    def of(cls, part: Part, *, simulated: bool) -> VisionResult:
        """The result of a decided part (a part reaches the outputs only once decided)."""
        decision = part.decision
        if decision is None:
            raise ValueError(f"part {part.seq} has no verdict yet")
        inspection, setup = part.inspection, part.setup
        model_name = inspection.model_name if inspection else (setup.model if setup else "")
        model_sha = inspection.model_sha256 if inspection else (setup.model_sha256 if setup else "")
        held = decision.verdict is Verdict.HOLD
        state = (RESULT_FAILED if decision.verdict is Verdict.NOT_INSPECTED
                 else RESULT_PROCESSING if held else RESULT_COMPLETED)
        return cls(
            result_id=str(part.seq), seq=part.seq, is_partial=held, is_simulated=simulated, result_state=state,
            recipe=part.recipe, part_id=part.part_id or "", creation_time=decision.decided_at,
            capture_time=part.captured_at, verdict=decision.verdict.name, verdict_code=int(decision.verdict),
            score=float(inspection.score) if inspection else math.nan, threshold_version=decision.threshold_version,
            model_name=model_name, model_sha256=model_sha, defect_code=part.defect_code, reason=decision.reason,
            auto_verdict=decision.verdict.name)

    def reviewed(self, review: OperatorReview, defect_types: tuple[str, ...]) -> VisionResult:
        """The final result of this HOLD result: the review's verdict, whole (not partial)."""
        return dataclasses.replace(
            self, is_partial=False, result_state=RESULT_COMPLETED, creation_time=review.reviewed_at,
            verdict=review.verdict.name, verdict_code=int(review.verdict), reason=review_reason(review),
            defect_code=reviewed_defect_code(review, defect_types), reviewed_by=review.user,
            reviewed_automatically=review.automatic)

    @classmethod
    def of_review(cls, review: OperatorReview, *, simulated: bool) -> VisionResult:
        """The final result of a HOLD part whose partial result is no longer known here: the review's fields only."""
        partial = cls(
            result_id=str(review.seq), seq=review.seq, is_partial=True, is_simulated=simulated,
            result_state=RESULT_PROCESSING, recipe="", part_id="", creation_time=review.reviewed_at,
            capture_time=NO_TIME, verdict=Verdict.HOLD.name, verdict_code=int(Verdict.HOLD), score=math.nan,
            threshold_version=0, model_name="", model_sha256="", defect_code=0, reason="",
            auto_verdict=Verdict.HOLD.name)
        return partial.reviewed(review, ())

    @property
    def message(self) -> str:
        """The event's Message: 'part 1234: NG (score 0.412)', 'part 1234: OK (reviewed by olga)'."""
        if self.reviewed_by:
            how = ("not reviewed in time, the recipe's default" if self.reviewed_automatically
                   else f"reviewed by {self.reviewed_by}")
            return f"part {self.seq}: {self.verdict.replace('_', ' ')} ({how})"
        score = "" if math.isnan(self.score) else f" (score {self.score:.3f})"
        return f"part {self.seq}: {self.verdict.replace('_', ' ')}{score}"
