"""The fast greedy coreset picks exactly what the plain greedy k-center algorithm picks."""

from __future__ import annotations

import numpy as np
import pytest

from hmi.inference.teach_coreset import greedy_coreset, random_projection


def plain_greedy(features: np.ndarray, size: int, dims: int, seed: int) -> list[int]:
    """Textbook greedy k-center on the same projection and first pick."""
    z = random_projection(features, dims, seed).astype(np.float64)
    first = int(np.random.default_rng(seed).integers(len(z)))
    nearest = np.linalg.norm(z - z[first], axis=1)
    picks = [first]
    for _ in range(1, size):
        far = int(np.argmax(nearest))
        picks.append(far)
        nearest = np.minimum(nearest, np.linalg.norm(z - z[far], axis=1))
    return picks


def clustered(rng: np.random.Generator, n: int, dims: int) -> np.ndarray:
    centres = rng.normal(0, 4, (12, dims))
    return (centres[rng.integers(0, 12, n)] + rng.normal(0, 1, (n, dims))).astype(np.float32)


@pytest.mark.parametrize("dims", [16, 128])
def test_same_picks_in_the_same_order_as_plain_greedy(dims: int) -> None:
    features = clustered(np.random.default_rng(0), 3000, 40)
    picks = greedy_coreset(features, 60, dims=dims, seed=4)
    assert picks.tolist() == plain_greedy(features, 60, dims, 4)


def test_picks_are_distinct_and_cover_the_outlier() -> None:
    rng = np.random.default_rng(1)
    features = clustered(rng, 2000, 20)
    features[1234] += 100.0  # one patch unlike all others must be in any k-center bank
    picks = greedy_coreset(features, 20, seed=0)
    assert len(set(picks.tolist())) == 20
    assert 1234 in picks.tolist()[:2]


def test_stops_early_when_every_row_is_covered() -> None:
    features = np.repeat(np.eye(3, dtype=np.float32), 50, axis=0)  # only three distinct rows
    picks = greedy_coreset(features, 10, seed=0)
    assert sorted(features[picks].argmax(1).tolist()) == [0, 1, 2]


def test_tick_reports_progress_and_can_stop_the_selection() -> None:
    features = clustered(np.random.default_rng(2), 4000, 10)
    seen: list[float] = []

    def tick(fraction: float) -> None:
        seen.append(fraction)
        if fraction > 0.5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        greedy_coreset(features, 400, tick=tick)
    assert seen == sorted(seen) and 0 < seen[0] < 0.5 < seen[-1] < 1
