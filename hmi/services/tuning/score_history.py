"""Recent parts' scores from the records, and what a proposed ThresholdSet would have done to them.

The history is read through a read-only connection (SQLite URI mode=ro), so looking at thresholds can
never write to, or hold up, the records. Predictions are pure NumPy over the loaded arrays: cheap
enough to recompute every time a technician drags a line.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from hmi.core.errors import StoreError
from hmi.core.messages import TIMEOUT_REVIEWER
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet
from hmi.store.database import open_readonly, schema_version

DEFAULT_LIMIT = 2000
# Reviews the station made itself (a HOLD that timed out got the recipe's default) are no person's judgement.
AUTOMATIC_REVIEWERS = frozenset({TIMEOUT_REVIEWER})


class Judgement(str, Enum):
    """What a person said about a part at review: good, defect, or nothing (not reviewed)."""

    GOOD = "good"
    DEFECT = "defect"
    NOT_REVIEWED = "not reviewed"


@dataclass(frozen=True)
class LoggedPart:
    """One recorded part as the thresholds screen sees it."""

    seq: int
    score: float
    auto_verdict: Verdict
    verdict: Verdict
    reviewed_by: str | None
    largest_region_px: int
    threshold_version: int | None
    image_path: str | None
    downstream_defect: bool = False  # reported later as a defect found downstream

    @property
    def judgement(self) -> Judgement:
        """What people said of this part: a defect found downstream, else the verdict a person gave, if any.

        A person's OK (on a HOLD, or overruling an NG) is GOOD; a person's NG is DEFECT; a part reported as a
        defect found downstream is DEFECT whatever its verdict; the station's own timeout verdicts say nothing.
        """
        if self.downstream_defect:
            return Judgement.DEFECT
        if self.reviewed_by is None or self.reviewed_by in AUTOMATIC_REVIEWERS:
            return Judgement.NOT_REVIEWED
        if self.verdict is Verdict.OK:
            return Judgement.GOOD
        if self.verdict is Verdict.NG:
            return Judgement.DEFECT
        return Judgement.NOT_REVIEWED


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Consequences:
    """What a threshold set does to the logged parts: verdict counts, false rejects and escapes.

    A false reject is a part an operator judged good that the set rejects (NG); an escape is a part
    known to be defective (an operator said so, it was reported as found downstream, or the station
    rejected it and nobody overrode that) that the set passes (OK). Good parts the set holds are
    counted too: they cost review time.
    """

    thresholds: ThresholdSet
    parts: int
    ok: int
    hold: int
    ng: int
    judged_good: int
    false_rejects: int
    good_held: int
    known_defective: int
    escapes: int

    @property
    def false_reject_rate(self) -> float | None:
        """False rejects per part judged good (None without any such part)."""
        return _rate(self.false_rejects, self.judged_good)

    @property
    def escape_rate(self) -> float | None:
        """Escapes per part known to be defective (None without any such part)."""
        return _rate(self.escapes, self.known_defective)

    def share(self, verdict: Verdict) -> float | None:
        """Share of the scored parts that get `verdict` (OK, HOLD or NG)."""
        count = {Verdict.OK: self.ok, Verdict.HOLD: self.hold, Verdict.NG: self.ng}[verdict]
        return _rate(count, self.parts)


@dataclass(frozen=True)
class Comparison:
    """A proposed set beside the set in force, on the same logged parts."""

    in_force: Consequences
    proposed: Consequences

    def change(self, field: str) -> int:
        """Proposed minus in force for a count field (ok, hold, ng, false_rejects, good_held, escapes)."""
        return int(getattr(self.proposed, field)) - int(getattr(self.in_force, field))


def verdicts_under(scores: np.ndarray, largest_px: np.ndarray, t: ThresholdSet) -> np.ndarray:
    """Automatic verdicts as codes 0 OK, 1 HOLD, 2 NG, exactly as hmi.decision.policy.decide gives them."""
    codes = np.where(scores < t.hold_low, 0, np.where(scores < t.ng_from, 1, 2)).astype(np.int8)
    if t.min_defect_area_px:
        codes[(codes == 2) & (largest_px < t.min_defect_area_px)] = 1
    return codes


CODE_VERDICT = (Verdict.OK, Verdict.HOLD, Verdict.NG)


class ScoreHistory:
    """The scored parts of one recipe (newest first) as arrays, with predictions for any threshold set."""

    def __init__(self, parts: Iterable[LoggedPart], *, recipe: str = "", model_sha256: str = "",
                 not_inspected: int = 0) -> None:
        self.parts = tuple(parts)
        self.recipe = recipe
        self.model_sha256 = model_sha256
        self.not_inspected = not_inspected
        self.scores = np.array([p.score for p in self.parts], np.float64)
        self.largest_px = np.array([p.largest_region_px for p in self.parts], np.int64)
        judgements = [p.judgement for p in self.parts]
        self.good = np.array([j is Judgement.GOOD for j in judgements], bool)
        self.defect = np.array([j is Judgement.DEFECT for j in judgements], bool)
        self.downstream = np.array([p.downstream_defect for p in self.parts], bool)
        self.not_reviewed = ~(self.good | self.defect)
        auto_ng = np.array([p.auto_verdict is Verdict.NG for p in self.parts], bool)
        passed = np.array([p.auto_verdict is Verdict.OK and p.verdict is Verdict.OK for p in self.parts], bool)
        self.known_defective = self.defect | (self.not_reviewed & auto_ng)
        # Passed by the station, never reviewed and never reported downstream: good as far as anyone knows.
        self.presumed_good = self.not_reviewed & passed
        self.known_good = self.good | self.presumed_good

    def __len__(self) -> int:
        return len(self.parts)

    def scores_of(self, judgement: Judgement) -> np.ndarray:
        """Scores of the parts with that operator judgement."""
        mask = {Judgement.GOOD: self.good, Judgement.DEFECT: self.defect,
                Judgement.NOT_REVIEWED: self.not_reviewed}[judgement]
        return self.scores[mask]

    def predict(self, thresholds: ThresholdSet) -> Consequences:
        """What `thresholds` would have done to these parts."""
        codes = verdicts_under(self.scores, self.largest_px, thresholds)
        return Consequences(
            thresholds=thresholds, parts=len(self.parts),
            ok=int(np.count_nonzero(codes == 0)), hold=int(np.count_nonzero(codes == 1)),
            ng=int(np.count_nonzero(codes == 2)),
            judged_good=int(np.count_nonzero(self.good)),
            false_rejects=int(np.count_nonzero(self.good & (codes == 2))),
            good_held=int(np.count_nonzero(self.good & (codes == 1))),
            known_defective=int(np.count_nonzero(self.known_defective)),
            escapes=int(np.count_nonzero(self.known_defective & (codes == 0))))

    def compare(self, proposed: ThresholdSet, in_force: ThresholdSet) -> Comparison:
        """The proposed set's consequences beside those of the set in force."""
        return Comparison(self.predict(in_force), self.predict(proposed))


_QUERY = """
SELECT i.seq, i.score, i.auto_verdict, i.verdict, i.reviewed_by, i.threshold_version, i.image_path,
       COALESCE((SELECT MAX(r.area_px) FROM regions r WHERE r.seq = i.seq), 0), {downstream}
FROM inspections i
WHERE i.recipe = ? AND i.score IS NOT NULL AND i.auto_verdict != 'NOT_INSPECTED' {model}
ORDER BY i.captured_at DESC, i.seq DESC
LIMIT ?
"""
_NOT_INSPECTED = """
SELECT COUNT(*) FROM (SELECT 1 FROM inspections i WHERE i.recipe = ? {model}
                      AND (i.score IS NULL OR i.auto_verdict = 'NOT_INSPECTED')
                      ORDER BY i.captured_at DESC LIMIT ?)
"""
# Defects found downstream are kept from records schema 4 on; a file the station has not migrated yet has none.
_DOWNSTREAM = "EXISTS (SELECT 1 FROM downstream_defects d WHERE d.seq = i.seq)"
_DOWNSTREAM_SCHEMA = 4


def load_history(db_path: Path, recipe: str, *, model_sha256: str = "", limit: int = DEFAULT_LIMIT) -> ScoreHistory:
    """The last `limit` scored parts of `recipe` (of the model with `model_sha256` only, when given)."""
    model = "AND i.model_sha256 = ?" if model_sha256 else ""
    args: tuple = (recipe, model_sha256) if model_sha256 else (recipe,)
    conn = open_readonly(Path(db_path))
    try:
        downstream = _DOWNSTREAM if schema_version(conn) >= _DOWNSTREAM_SCHEMA else "0"
        rows = conn.execute(_QUERY.format(model=model, downstream=downstream), (*args, int(limit))).fetchall()
        not_inspected = int(conn.execute(_NOT_INSPECTED.format(model=model), (*args, int(limit))).fetchone()[0])
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the recent scores from {db_path} ({exc})",
                         "check the records database with 'hmi db check'") from None
    finally:
        conn.close()
    parts = [LoggedPart(int(seq), float(score), Verdict[auto], Verdict[final], reviewer, int(largest),
                        None if version is None else int(version), image, bool(found))
             for seq, score, auto, final, reviewer, version, image, largest, found in rows]
    return ScoreHistory(parts, recipe=recipe, model_sha256=model_sha256, not_inspected=not_inspected)


__all__ = ["AUTOMATIC_REVIEWERS", "CODE_VERDICT", "Comparison", "Consequences", "Judgement", "LoggedPart",
           "ScoreHistory", "load_history", "verdicts_under"]
