"""Which parts of the demo line are borderline: a seeded plan, the same for every run of a seed."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

DEMO_LINE_SEED = 5  # its first borderline parts land in the shipped demo model's HOLD band
FIRST_BORDERLINE = 10  # part index: the first comes within the first seconds (short demos, screenshots)
BORDERLINE_GAP = (1200, 1800)  # parts from one borderline part to the next: 2 to 3 minutes at 10 parts/s
_PLAN = 0xB0  # salt of the plan's random streams


def borderline_parts(seed: int = DEMO_LINE_SEED) -> Iterator[int]:
    """Indices (0 = first part of the run) of the borderline parts, in order, without end."""
    rng = np.random.default_rng([seed, _PLAN])
    part = FIRST_BORDERLINE
    while True:
        yield part
        part += int(rng.integers(BORDERLINE_GAP[0], BORDERLINE_GAP[1] + 1))


def borderline_seed(seed: int, k: int) -> int:
    """Part seed of the `k`-th borderline part (0-based) of the line with `seed`."""
    return int(np.random.SeedSequence([seed, _PLAN, k]).generate_state(1, np.uint32)[0])
