"""Changeover on the PLC's request: the recipe number in byte 79 of the vision interface selects the recipe."""

from __future__ import annotations

import logging
from collections.abc import Callable

from hmi.changes.setup import SetupChanges
from hmi.core.alarm_catalogue import RECIPE_REQUEST
from hmi.core.errors import StationError
from hmi.pipeline.worker import Worker

log = logging.getLogger(__name__)



class PlcRecipeRequests(Worker):
    """Watches the PLC's requested recipe number and changes over when it changes to a known recipe.

    Number 0 means "no request". A number no recipe carries, or a recipe whose model does not load,
    raises an alarm and keeps the recipe in force; the same request is not retried until it changes.
    """

    role = "recipe requests"
    period_s = 0.5

    def __init__(self, changes: SetupChanges, plc_status: Callable[[], object], alarms=None) -> None:
        super().__init__()
        self.changes = changes
        self.plc_status = plc_status
        self.alarms = alarms
        self._seen: int | None = None

    def setup(self) -> None:
        """Take the number the PLC shows at start as already served (the recipe file decides at start)."""
        self._seen = self._requested()

    def loop_once(self) -> None:
        """Look at the request twice a second."""
        if self.wait(self.period_s):
            return
        number = self._requested()
        if number is None or number == self._seen:
            return
        self._seen = number
        if number == 0:
            return
        self.serve(number)

    def serve(self, number: int) -> str | None:
        """Change over to the recipe with PLC number `number`; returns its name, or None when refused."""
        name = self.changes.recipe_for_plc_number(number)
        if name is None:
            self._alarm(f"the PLC requests recipe number {number}, but no recipe on this station has that number")
            return None
        if name == self.changes.recipe.name:
            return name
        try:
            self.changes.changeover(name, f"PLC recipe request {number}", "requested by the PLC")
        except StationError as exc:
            self._alarm(f"the PLC requests recipe {name} (number {number}), but it cannot be put in force: {exc.what}")
            return None
        if self.alarms is not None:
            self.alarms.clear(RECIPE_REQUEST)
        return name

    def _requested(self) -> int | None:
        status = self.plc_status()
        return getattr(status, "requested_recipe", None) if status is not None else None

    def _alarm(self, problem: str) -> None:
        log.warning("%s: recipe %s stays in force", problem, self.changes.recipe.name)
        if self.alarms is not None:
            self.alarms.raise_(RECIPE_REQUEST, problem=problem, kept=self.changes.recipe.name)
