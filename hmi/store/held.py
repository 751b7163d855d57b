"""Parts the records still show as HOLD with nobody's verdict: what a restarted station puts back for review."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmi.core.errors import StationError
from hmi.core.image_files import read_frame
from hmi.core.part import CameraSettings, Decision, DefectRegion, Inspection, Part
from hmi.store.database import open_readonly
from hmi.store.queries import PartRecord, part_by_seq

log = logging.getLogger(__name__)


def part_from_record(record: PartRecord, picture: np.ndarray | None, note: str) -> Part:
    """A Part built from a stored record: its picture (None: `note` says why there is none), regions and verdict."""
    regions = tuple(DefectRegion(r.x, r.y, r.w, r.h, r.area_px, r.peak_score or 0.0, label=r.label,
                                 confidence=r.confidence) for r in record.regions)
    inspection = Inspection(record.score or 0.0, regions, record.backend or "", record.model_name or "",
                            record.model_sha256 or "", record.infer_ms or 0.0)
    decision = Decision(record.verdict, record.reason, record.threshold_version or 0,
                        record.decided_at or record.captured_at, record.captured_mono, confidence=record.confidence)
    camera = CameraSettings(record.camera_source or "", record.exposure_us or 0.0, record.gain_db or 0.0)
    return Part(record.seq, record.captured_at, record.captured_mono, camera, record.recipe, image=picture,
                capture_error=None if picture is not None else note, part_id=record.part_id, lot_id=record.lot_id,
                inspection=inspection, decision=decision)


@dataclass(frozen=True)
class HeldRecord:
    """A stored part still waiting for a verdict, with its picture read back from disk where one was kept."""

    record: PartRecord
    part: Part


def _picture(data_dir: Path, relative: str | None) -> tuple[np.ndarray | None, str]:
    if not relative:
        return None, "no image was kept of this part"
    root = Path(data_dir).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        return None, f"its record names an image outside the data folder ({relative})"
    try:
        return read_frame(path), ""
    except (OSError, StationError) as exc:
        return None, f"its image {relative} cannot be read ({exc})"


def undecided_holds(db_path: Path, data_dir: Path) -> list[HeldRecord]:
    """Every recorded part whose final verdict is still HOLD and that nobody reviewed, oldest first."""
    conn = open_readonly(db_path)
    try:
        # The (verdict, captured_at) index answers this without reading the table.
        seqs = [int(r[0]) for r in conn.execute(
            "SELECT seq FROM inspections WHERE verdict = 'HOLD' AND reviewed_by IS NULL ORDER BY captured_at, seq")]
        records = [r for r in (part_by_seq(conn, seq) for seq in seqs) if r is not None]
    finally:
        conn.close()
    held = []
    for record in records:
        picture, note = _picture(data_dir, record.image_path)
        if picture is None:
            log.warning("held part %d comes back for review without its image: %s", record.seq, note)
        held.append(HeldRecord(record, part_from_record(record, picture, note)))
    return held
