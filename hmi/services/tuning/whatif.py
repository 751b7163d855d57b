"""What-if: re-score the stored part images with the model in force (or a proposed one) and judge them anew.

Each run (a hmi.pipeline.worker.Worker) loads its own copy of the model on its own thread at lower priority
(nice NICE, set by the worker as its thread starts), so the model's thread pool inherits that priority and the
line's inference keeps the cores it needs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hmi.inference.loading import load_inspector
from hmi.services.tuning.score_history import Comparison, Judgement, LoggedPart, ScoreHistory
from hmi.config.schema import Recipe, StationConfig
from hmi.core.errors import ImageError, StationError
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet, decide
from hmi.inference.inspector import Inspector, read_image
from hmi.pipeline.worker import Worker

log = logging.getLogger(__name__)

DEFAULT_IMAGES = 200
NICE = 10

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RescoredPart:
    """One stored part: its recorded score and verdict beside the new score and verdict."""

    seq: int
    judgement: Judgement
    old_score: float
    old_verdict: Verdict
    new_score: float
    new_verdict: Verdict

    @property
    def changed(self) -> bool:
        """True when the new verdict differs from the recorded automatic verdict."""
        return self.new_verdict is not self.old_verdict


@dataclass(frozen=True)
class WhatIfResult:
    """The re-scored parts and a summary; `cancelled` when the technician stopped it early."""

    model_name: str
    thresholds: ThresholdSet
    parts: tuple[RescoredPart, ...]
    skipped: tuple[str, ...]
    comparison: Comparison | None
    cancelled: bool
    seconds: float
    moves: dict[tuple[Verdict, Verdict], int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        """Parts whose verdict would change."""
        return sum(1 for p in self.parts if p.changed)

    def summary(self) -> str:
        """One plain sentence for the screen."""
        n = len(self.parts)
        head = (f"Re-scored {n} stored image{'s' if n != 1 else ''} with model {self.model_name} "
                f"under the proposed set: {self.changed} verdict{'s' if self.changed != 1 else ''} would change")
        if self.cancelled:
            head += " (stopped early)"
        if self.skipped:
            head += f"; {len(self.skipped)} image{'s' if len(self.skipped) != 1 else ''} could not be read"
        return head + "."


def inspector_for(cfg: StationConfig, data_dir: Path, recipe: Recipe, model: str | None = None) -> Inspector:
    """A private inspector on one thread for the recipe's model, or for `model` (a recipe copy naming it)."""
    if model and model != recipe.model.name:
        recipe = recipe.model_copy(update={"model": recipe.model.model_copy(update={"name": model, "sha256": ""})})
    quiet = cfg.model_copy(update={"inference": cfg.inference.model_copy(update={"threads": 1})})
    return load_inspector(quiet, data_dir, recipe, warm_up=False, judges_by_recipe=False)  # judged by the proposal


def rescore(history: ScoreHistory, inspector: Inspector, data_dir: Path, proposal: ThresholdSet, *,
            in_force: ThresholdSet | None = None, limit: int = DEFAULT_IMAGES, progress: Progress | None = None,
            cancel: threading.Event | None = None) -> WhatIfResult:
    """Run the last `limit` stored images of `history` through `inspector` and decide them under `proposal`.

    Runs on the calling thread; `progress(done, total)` after each image; stops early when `cancel` is set.
    """
    t0 = time.perf_counter()
    stored = [p for p in history.parts if p.image_path][:max(0, int(limit))]
    done: list[RescoredPart] = []
    relogged: list[LoggedPart] = []
    skipped: list[str] = []
    cancelled = False
    for i, part in enumerate(stored):
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        path = Path(data_dir) / str(part.image_path)
        try:
            inspection = inspector.inspect(read_image(path))
        except ImageError as exc:
            skipped.append(f"part {part.seq}: {exc.what}")
        else:
            verdict, _ = decide(inspection, proposal)
            largest = max((r.area_px for r in inspection.regions), default=0)
            done.append(RescoredPart(part.seq, part.judgement, part.score, part.auto_verdict,
                                     float(inspection.score), verdict))
            relogged.append(replace(part, score=float(inspection.score), largest_region_px=int(largest)))
        if progress is not None:
            progress(i + 1, len(stored))
    rescored = ScoreHistory(relogged, recipe=history.recipe)
    comparison = rescored.compare(proposal, in_force) if in_force is not None and relogged else None
    moves: dict[tuple[Verdict, Verdict], int] = {}
    for p in done:
        moves[(p.old_verdict, p.new_verdict)] = moves.get((p.old_verdict, p.new_verdict), 0) + 1
    return WhatIfResult(inspector.package.manifest.name, proposal, tuple(done), tuple(skipped), comparison,
                        cancelled, time.perf_counter() - t0, moves)


class WhatIfRun(Worker):
    """One what-if on its own low-priority thread (a Worker); `done(result)` or `failed(error)` is called from it.

    `cancel` is the worker's `stop`; `wait` waits for the run's end (the caller's side, unlike a stage's
    `Worker.wait`, which this worker does not use).
    """

    role = "what-if"
    nice = NICE

    def __init__(self, cfg: StationConfig, data_dir: Path, recipe: Recipe, history: ScoreHistory,
                 proposal: ThresholdSet, *, in_force: ThresholdSet | None = None, model: str | None = None,
                 limit: int = DEFAULT_IMAGES, progress: Progress | None = None,
                 done: Callable[[WhatIfResult], None] | None = None,
                 failed: Callable[[BaseException], None] | None = None) -> None:
        super().__init__()
        self.cfg, self.data_dir, self.recipe, self.history = cfg, Path(data_dir), recipe, history
        self.proposal, self.in_force, self.model, self.limit = proposal, in_force, model, limit
        self.progress, self.done, self.failed = progress, done, failed
        self.cancel_event = self._stop  # set by `cancel` (the worker's stop); `rescore` checks it per image
        self.result: WhatIfResult | None = None
        self._failure: BaseException | None = None

    def start(self) -> "WhatIfRun":
        """Start re-scoring in the background."""
        super().start()
        return self

    def cancel(self) -> None:
        """Stop after the image being scored; the result so far is kept and marked as stopped early."""
        self.stop()

    @property
    def running(self) -> bool:
        """True while the thread is at work."""
        return self.alive

    @property
    def error(self) -> BaseException | None:
        """What the run failed on (also handed to `failed`), or None."""
        return self._failure or super().error

    def wait(self, timeout_s: float | None = None) -> bool:  # type: ignore[override]
        """Wait for the end; True when it ended."""
        return self.join(timeout_s)

    def run(self) -> None:
        """Load the model, re-score, and hand the outcome to `done` or `failed` (on this thread)."""
        try:
            if not any(p.image_path for p in self.history.parts):
                raise StationError("no stored images of this recipe's recent parts to re-score",
                                   "let the line run: NG, HOLD and every N-th OK part keep their images")
            inspector = inspector_for(self.cfg, self.data_dir, self.recipe, self.model)
            self.result = rescore(self.history, inspector, self.data_dir, self.proposal, in_force=self.in_force,
                                  limit=self.limit, progress=self.progress, cancel=self.cancel_event)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, which shows it in plain words
            if not isinstance(exc, StationError):
                log.exception("what-if failed")
            self._failure = exc
            if self.failed is not None:
                self.failed(exc)
            return
        if self.done is not None:
            self.done(self.result)


__all__ = ["DEFAULT_IMAGES", "RescoredPart", "WhatIfResult", "WhatIfRun", "inspector_for", "rescore"]
