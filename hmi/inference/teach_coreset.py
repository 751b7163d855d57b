"""Greedy k-center coreset: the few good-part patches that cover all the others (PatchCore's memory bank)."""

from __future__ import annotations

from typing import Callable

import numpy as np

# Called with the fraction done; may raise to stop (teach passes its cancellation check here).
Tick = Callable[[float], None]

_CHUNK = 32768


def random_projection(features: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """Features projected onto `dims` Gaussian random directions (distances kept up to a small factor)."""
    if features.shape[1] <= dims:
        return np.ascontiguousarray(features, dtype=np.float32)
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((features.shape[1], dims)).astype(np.float32) / np.float32(np.sqrt(dims))
    return np.ascontiguousarray(features, dtype=np.float32) @ matrix


def _distances(z: np.ndarray, sq: np.ndarray, c: np.ndarray, c_sq: float) -> np.ndarray:
    """Euclidean distances of the rows of z (squared norms sq) to c."""
    return np.sqrt(np.maximum(sq - 2.0 * (z @ c) + c_sq, 0.0)).astype(np.float32, copy=False)


class _Buckets:
    """Rows sorted into buckets around random anchors, each bucket contiguous, with its radius."""

    def __init__(self, z: np.ndarray, sq: np.ndarray, rng: np.random.Generator) -> None:
        n = len(z)
        count = int(np.clip(np.sqrt(n), 1, 4096))
        anchors = z[np.sort(rng.choice(n, count, replace=False))]
        a_sq = np.einsum("ij,ij->i", anchors, anchors)
        owner = np.empty(n, np.int64)
        to_anchor = np.empty(n, np.float32)
        for s in range(0, n, _CHUNK):
            d = sq[s:s + _CHUNK, None] - 2.0 * (z[s:s + _CHUNK] @ anchors.T) + a_sq[None]
            owner[s:s + _CHUNK] = d.argmin(1)
            to_anchor[s:s + _CHUNK] = np.sqrt(np.maximum(d[np.arange(len(d)), owner[s:s + _CHUNK]], 0.0))
        self.order = np.argsort(owner, kind="stable")
        owner = owner[self.order]
        used = np.unique(owner)
        self.anchors = anchors[used]
        self.starts = np.searchsorted(owner, used, "left")
        self.ends = np.searchsorted(owner, used, "right")
        self.radius = np.maximum.reduceat(to_anchor[self.order], self.starts)


def greedy_coreset(features: np.ndarray, size: int, *, dims: int = 128, seed: int = 0,
                   tick: Tick | None = None) -> np.ndarray:
    """Indices of `size` rows chosen by greedy k-center: each pick is the row farthest from all earlier picks.

    Selection runs on a random projection to `dims` dimensions, as PatchCore does. The result is exactly the
    plain greedy algorithm's, only faster: rows are sorted once into contiguous buckets around random anchors,
    and a new pick can bring no row of a bucket closer when its distance to the bucket's anchor, less the
    bucket's radius, is already at least the bucket's largest remaining distance (triangle inequality). Once
    the picks cover the data that skips most buckets, so 1 % of a few hundred thousand patches takes seconds.
    """
    n = features.shape[0]
    size = int(min(max(size, 1), n))
    rng = np.random.default_rng(seed)
    z = random_projection(features, dims, seed)
    sq = np.einsum("ij,ij->i", z, z)
    first = int(rng.integers(n))
    buckets = _Buckets(z, sq, rng)
    z, sq = z[buckets.order], sq[buckets.order]
    starts, ends = buckets.starts, buckets.ends
    here = int(np.flatnonzero(buckets.order == first)[0])
    nearest = _distances(z, sq, z[here], float(sq[here]))
    farthest = np.maximum.reduceat(nearest, starts)
    picks = np.empty(size, np.int64)
    picks[0] = here
    every = max(1, size // 200)
    for k in range(1, size):
        b = int(np.argmax(farthest))
        if farthest[b] <= 0.0:  # every row coincides with a pick already
            picks = picks[:k]
            break
        here = int(starts[b] + np.argmax(nearest[starts[b]:ends[b]]))
        picks[k] = here
        c, c_sq = z[here], float(sq[here])
        to_anchors = np.sqrt(np.maximum(((buckets.anchors - c) ** 2).sum(1), 0.0))
        for b in np.flatnonzero(to_anchors - buckets.radius < farthest):
            s, e = starts[b], ends[b]
            seg = nearest[s:e]
            np.minimum(seg, _distances(z[s:e], sq[s:e], c, c_sq), out=seg)
            farthest[b] = seg.max()
        if tick is not None and k % every == 0:
            tick(k / size)
    return buckets.order[picks]
