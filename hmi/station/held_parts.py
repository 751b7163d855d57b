"""Held parts survive a restart: each part the records still show HOLD goes back to the review queue with the
time it has left, or gets its recipe's default with the reason said; both are recorded and audited."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

from hmi.config.schema import Recipe
from hmi.core.errors import StationError
from hmi.core.messages import TIMEOUT_REVIEWER
from hmi.core.part import Part, utc_now
from hmi.inference.loading import judging_setup
from hmi.pipeline.holds import HoldQueue, PendingHold
from hmi.store.audit import AuditAction, part_subject
from hmi.store.held import HeldRecord, undecided_holds

log = logging.getLogger(__name__)


def _with_recipe(held: HeldRecord, load: Callable[[str], Recipe], in_force: Recipe) -> tuple[Part, str]:
    """The part carrying its own recipe's hold policy (the recipe in force's when its file is gone), and why."""
    record = held.record
    try:
        recipe, why = load(record.recipe), ""
    except StationError as exc:
        recipe = in_force
        why = f"recipe {record.recipe} cannot be loaded ({exc}): the hold policy of {in_force.name} used"
    carried = dataclasses.replace(judging_setup(recipe, None).carried, recipe=record.recipe,
                                  threshold_version=record.threshold_version or 0, model=record.model_name or "",
                                  model_sha256=record.model_sha256 or "")
    return dataclasses.replace(held.part, setup=carried), why


def restore_held_parts(holds: HoldQueue, db_path: Path, data_dir: Path, load: Callable[[str], Recipe],
                       in_force: Recipe, audit: Callable[..., None]) -> tuple[int, int]:
    """Put every undecided HOLD part of the records back for review; returns (back in the queue, defaulted).

    Runs once at start, with the records writer running and before the holds timer. The time a part has
    waited counts from its verdict, the station's downtime included: the part itself waited on the line.
    """
    queued = defaulted = 0
    now = utc_now()
    for held in undecided_holds(db_path, data_dir):
        part, why = _with_recipe(held, load, in_force)
        judged = held.record.decided_at or held.record.captured_at
        waited = max(0.0, (now - judged).total_seconds())
        outcome = holds.restore(part, waited)
        if not isinstance(outcome, PendingHold):  # the records and the audit trail get it with its reason
            defaulted += 1
            if why:
                log.warning("held part %d: %s", part.seq, why)
            continue
        queued += 1
        left = outcome.timeout_s - waited
        image = "" if part.image is not None else f"; shown without its image: {part.capture_error}"
        reason = (f"station restarted: back in the review queue with {left:.0f} s of its {outcome.timeout_s:.0f} s "
                  f"left, then {outcome.default.name} by the recipe's default{image}" + (f"; {why}" if why else ""))
        audit(TIMEOUT_REVIEWER, AuditAction.HOLD_RESTORED, part_subject(part.seq), "HOLD", "HOLD", reason)
    if queued or defaulted:
        log.info("station restarted with %d held parts undecided: %d back in the review queue, %d given their "
                 "recipe's default", queued + defaulted, queued, defaulted)
    return queued, defaulted
