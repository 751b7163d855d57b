"""The nearest memory-bank feature found by clusters: the CPU's search for the anomaly models taught here.

The scoring graph (scoring_graph.tiled_scoring_graph) finds each patch's nearest bank feature with one
matrix product over the whole bank and an ArgMin over its [patches x bank] result. On a CPU that is about
half of a part's judging time. The bank is fixed once a model is taught, so at load time it is grouped
into clusters (k-means). A patch is then compared with the cluster centres and with the members of its
`PROBES` nearest clusters only: about an eighth of the bank.

This is the inverted-file search of the nearest-neighbour libraries. It can miss the true nearest feature
when that one lies in a cluster not probed. The feature found is then a near one, and the patch's distance
reads a little high (or, where that feature has a smaller density weight, a little low). So each image's
patches found farthest from the bank, a `RECHECK_SHARE` of them, are searched again over the whole bank. They
decide the score and the defect regions, and they include the flaws, whose nearest cluster says least. Each
patch is searched on its own, so an image gets the same figures however its tiles are batched or the
patches shared out between threads. How close
this comes to the whole search, and what it costs, was measured on the development sets (docs/performance.md).
Teach's held-out parts are scored the same way, so the default thresholds fit the scores the line computes.

`split_scoring_graph` cuts a taught model's graph around its search: `front` (image to patch features, and
everything else the rest needs) and `back` (the patches' weighted distances to the map and score). Both run
in ONNX Runtime, and numpy does the search between them (backend.Session), its matrix products by ONNX
Runtime's CPU kernels (backend.CpuMatMul). A graph that is not exactly the taught search pattern is not
split, and runs whole.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper
from threadpoolctl import ThreadpoolController

from hmi.inference.scoring_graph import needed_nodes

FEATURES = "nn/features"     # [N, patches, C] patch features, searched
WEIGHTED = "nn/weighted"     # [N, patches] each patch's distance to its nearest bank feature times its weight
BANK = "nn/bank"             # [C + 1, M]: -2 x bank transposed, then the row of squared bank norms
WEIGHTS = "nn/weights"       # [M] density weight of each bank feature
# The nodes between FEATURES and WEIGHTED in a taught graph (scoring_graph._nearest_bank_map), by op type.
SEARCH_OPS = sorted(["Pad", "MatMul", "ArgMin", "GatherElements", "Squeeze", "Squeeze", "ReduceSumSquare",
                     "Add", "Relu", "Sqrt", "Gather", "Mul"])
MIN_CLUSTERED = 2048         # a smaller bank is searched whole, in the graph: clusters would save little
PROBES = 4                   # clusters searched per patch
KMEANS_ROUNDS = 12
RECHECK_SHARE = 0.05         # of each image: its patches found farthest from the bank, searched again over it all
# Patches a thread searches at the least. The search is many small numpy calls, and two threads share the GIL
# between them: the demo part's 2,304 patches took 2.3 ms on one thread and 2.9 ms in two halves; 9,216 took
# 8.5 against 7.6 ms, and 13,824 13.7 against 9.3 ms (docs/performance.md).
SPLIT_PATCHES = 4608

MatMul = Callable[[np.ndarray, np.ndarray], np.ndarray]


@functools.cache
def _blas() -> ThreadpoolController:
    """numpy's BLAS and the other thread pools loaded in this process (looked up once)."""
    return ThreadpoolController()


@dataclass(frozen=True)
class SplitGraph:
    """A taught model's graph cut around its nearest-bank search."""

    front: onnx.ModelProto   # the graph's inputs -> FEATURES and the tensors the back needs besides WEIGHTED
    back: onnx.ModelProto    # WEIGHTED and those tensors (and any graph input it reads) -> the graph's outputs
    bank: np.ndarray         # float32 [M, C]
    weights: np.ndarray      # float32 [M]


def _consumers(nodes: list[onnx.NodeProto]) -> dict[str, list[int]]:
    users: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for name in node.input:
            users.setdefault(name, []).append(i)
    return users


def _downstream(nodes: list[onnx.NodeProto], users: dict[str, list[int]], start: str) -> set[int]:
    seen: set[int] = set()
    todo = list(users.get(start, []))
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            for out in nodes[i].output:
                todo.extend(users.get(out, []))
    return seen


def split_scoring_graph(model: onnx.ModelProto) -> SplitGraph | None:
    """The graph cut around its nearest-bank search, or None when it has no search of the taught pattern or
    its bank is smaller than MIN_CLUSTERED features."""
    graph = model.graph
    nodes = list(graph.node)
    inits = {i.name: i for i in graph.initializer}
    if BANK not in inits or WEIGHTS not in inits:
        return None
    bank_aug = numpy_helper.to_array(inits[BANK]).astype(np.float32)
    weights = numpy_helper.to_array(inits[WEIGHTS]).astype(np.float32)
    if bank_aug.ndim != 2 or weights.shape != (bank_aug.shape[1],) or bank_aug.shape[1] < MIN_CLUSTERED:
        return None
    users = _consumers(nodes)
    feeding_weighted = {node.output[0] for node in needed_nodes(model, (WEIGHTED,))}
    search = {i for i in _downstream(nodes, users, FEATURES) if nodes[i].output[0] in feeding_weighted}
    if sorted(nodes[i].op_type for i in search) != SEARCH_OPS:
        return None
    back = _downstream(nodes, users, WEIGHTED)
    front = set(range(len(nodes))) - search - back
    made_by = {out: part for part, ids in (("search", search), ("back", back)) for i in ids for out in nodes[i].output}
    if any(made_by.get(name) for i in front for name in nodes[i].input):
        return None  # the front would need the search's result
    if any(name not in inits and name != FEATURES and made_by.get(name) != "search"
           for i in search for name in nodes[i].input if name):
        return None  # the search reads something other than the features and its constants
    graph_inputs = {i.name for i in graph.input}
    carried = sorted({name for i in back for name in nodes[i].input
                      if name and name not in inits and made_by.get(name) is None and name not in graph_inputs})
    back_inputs = sorted({name for i in back for name in nodes[i].input if name in graph_inputs})
    types = _tensor_types(model)
    if any(name not in types for name in [FEATURES, WEIGHTED, *carried]):
        return None

    def part(ids: set[int], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
             name: str) -> onnx.ModelProto:
        chosen = [nodes[i] for i in sorted(ids)]
        needed = {n for node in chosen for n in node.input}
        sub = helper.make_graph(chosen, f"{graph.name}-{name}", inputs, outputs,
                                [inits[n] for n in inits if n in needed])
        out = helper.make_model(sub, opset_imports=list(model.opset_import), producer_name="inspection-station")
        out.ir_version = model.ir_version
        for prop in model.metadata_props:
            out.metadata_props.add(key=prop.key, value=prop.value)
        return out

    value = {name: helper.make_tensor_value_info(name, types[name], None) for name in [FEATURES, WEIGHTED, *carried]}
    front_model = part(front, list(graph.input), [value[FEATURES]] + [value[n] for n in carried], "front")
    back_model = part(back, [value[WEIGHTED]] + [value[n] for n in carried]
                      + [i for i in graph.input if i.name in back_inputs], list(graph.output), "back")
    bank = np.ascontiguousarray(-0.5 * bank_aug[:-1].T)
    return SplitGraph(front_model, back_model, bank, weights)


def _tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every tensor in the graph that shape inference can name."""
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    return {v.name: v.type.tensor_type.elem_type for v in infos if v.type.tensor_type.elem_type}


def _kmeans(bank: np.ndarray, clusters: int) -> np.ndarray:
    """Cluster index of every bank feature: k-means seeded by farthest-point picks from the first feature."""
    sq = np.einsum("ij,ij->i", bank, bank)
    picks = [0]
    far = sq - 2.0 * bank @ bank[0] + sq[0]
    for _ in range(clusters - 1):
        picks.append(int(far.argmax()))
        far = np.minimum(far, sq - 2.0 * bank @ bank[picks[-1]] + sq[picks[-1]])
    centres = bank[picks].astype(np.float64)
    members = np.zeros(len(bank), np.int64)
    for _ in range(KMEANS_ROUNDS):
        members = (np.einsum("ij,ij->i", centres, centres)[None] - 2.0 * bank @ centres.T).argmin(1)
        counts = np.bincount(members, minlength=clusters)
        sums = np.zeros_like(centres)
        np.add.at(sums, members, bank)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return members


class ClusteredBank:
    """A memory bank grouped into clusters, searched cluster by cluster (see the module docstring)."""

    def __init__(self, bank: np.ndarray, weights: np.ndarray, probes: int | None = None, threads: int = 1,
                 matmul: MatMul = np.matmul) -> None:
        """Group `bank` (float32 [M, C]) into about sqrt(M)/2 clusters; `weights` [M] multiply the distances.

        Runs of many patches (SPLIT_PATCHES a thread at the least) are searched in up to `threads` parts side by
        side: numpy lets go of the GIL in its larger calls.
        `matmul` multiplies two float32 matrices on the calling thread alone (numpy's by default; the backend
        gives ONNX Runtime's, about twice as fast for these shapes)."""
        self._threads = threads
        self.bank = np.ascontiguousarray(bank, np.float32)
        self.weights = np.asarray(weights, np.float32)
        m = len(self.bank)
        wanted = max(1, min(m, round(math.sqrt(m) / 2))) if m >= MIN_CLUSTERED else 1
        members = _kmeans(self.bank, wanted) if wanted > 1 else np.zeros(m, np.int64)
        self._members = [ids for c in range(wanted) if len(ids := np.flatnonzero(members == c))]  # none empty
        self.clusters = len(self._members)
        self.probes = min(PROBES if probes is None else probes, self.clusters)
        self._matmul = matmul
        # Each table is [C + 1, members]: -2 x the features transposed over their squared norms, so one product
        # with a patch's features and a 1 gives |b|^2 - 2ab, the squared distance less the patch's own |a|^2.
        self._tables = [_table(self.bank[ids]) for ids in self._members]
        self._whole = _table(self.bank)
        self._centres = _table(np.stack([self.bank[ids].mean(0) for ids in self._members]).astype(np.float32))

    def weighted_distances(self, features: np.ndarray) -> np.ndarray:
        """float32 [images, patches, C] (or one image's [patches, C]) patch features -> [images, patches] (or
        [patches]): each one's distance to the nearest feature found, times its weight.

        Every figure is the same however the patches are batched or shared out between threads: each patch is
        searched on its own, and the patches searched again are the farthest of each image."""
        f = np.ascontiguousarray(features, np.float32)
        flat = f.reshape(-1, f.shape[-1])
        per_image = f.shape[-2]
        # numpy's BLAS on one thread: its idle workers spin after a call and took the cores from ONNX Runtime's
        # next backbone run (52 -> 82-99 ms for four 464 px tiles, measured).
        with _blas().limit(limits=1, user_api="blas"):
            norms = np.einsum("ij,ij->i", flat, flat)
            flat = np.concatenate([flat, np.ones((len(flat), 1), np.float32)], axis=1)
            found = self._shared(self._by_clusters, flat, norms)
            if self.probes < self.clusters:  # clusters were left out: the farthest patches are searched again
                # The patches that decide the score and the defect regions are those found farthest: they, and the
                # anomalous patches whose nearest clusters say least, are searched again over the whole bank.
                k = min(per_image, max(1, math.ceil(RECHECK_SHARE * per_image)))
                rows = found.reshape(-1, per_image)
                far = np.argpartition(rows, per_image - k, axis=1)[:, per_image - k:]
                far = (far + per_image * np.arange(len(rows))[:, None]).reshape(-1)
                found[far] = self._shared(self._over_the_bank, flat[far], norms[far])
        return found.reshape(f.shape[:-1])

    def _shared(self, search, f: np.ndarray, norms: np.ndarray) -> np.ndarray:
        """`search` over the patches `f`, in up to `threads` parts side by side, in their order."""
        parts = min(self._threads, len(f) // SPLIT_PATCHES)
        if parts < 2:
            return search(f, norms)
        bounds = np.linspace(0, len(f), parts + 1).round().astype(int)
        chunks = [(f[a:b], norms[a:b]) for a, b in zip(bounds, bounds[1:])]
        # Threads of this call only, joined before it returns: nothing of the search outlives a run.
        with ThreadPoolExecutor(parts - 1, thread_name_prefix="bank-search") as pool:
            others = [pool.submit(search, *chunk) for chunk in chunks[1:]]
            first = search(*chunks[0])
            return np.concatenate([first, *(o.result() for o in others)])

    def _by_clusters(self, f: np.ndarray, norms: np.ndarray) -> np.ndarray:
        """Each patch's weighted distance to the nearest member of its `probes` nearest clusters (`f`: features
        and a column of ones)."""
        n = len(f)
        probe = np.argpartition(self._matmul(f, self._centres), self.probes - 1, axis=1)[:, :self.probes]
        flat = probe.reshape(-1).astype(np.uint16 if self.clusters <= 1 << 16 else np.int64)
        order = np.argsort(flat, kind="stable")  # a radix sort for 16-bit keys
        bounds = np.searchsorted(flat[order], np.arange(self.clusters + 1))
        patch_of = order // self.probes
        best = np.full(n, np.inf, np.float32)
        nearest = np.zeros(n, np.int64)
        for c in range(self.clusters):
            rows = patch_of[bounds[c]:bounds[c + 1]]
            if len(rows) == 0:
                continue
            pick, found = _nearest_column(self._matmul(np.take(f, rows, axis=0), self._tables[c]))
            better = found < best[rows]
            best[rows[better]] = found[better]
            nearest[rows[better]] = self._members[c][pick[better]]
        return self._weighted(best, nearest, norms)

    def _over_the_bank(self, f: np.ndarray, norms: np.ndarray) -> np.ndarray:
        """Each patch's weighted distance to its nearest feature of the whole bank (`f` as for _by_clusters)."""
        pick, found = _nearest_column(self._matmul(f, self._whole))
        return self._weighted(found, pick, norms)

    def _weighted(self, found: np.ndarray, nearest: np.ndarray, norms: np.ndarray) -> np.ndarray:
        return (np.sqrt(np.maximum(found + norms, 0.0)) * self.weights[nearest]).astype(np.float32)


def _table(features: np.ndarray) -> np.ndarray:
    """float32 [C + 1, K] for features [K, C]: -2 x them transposed, over the row of their squared norms."""
    norms = np.einsum("ij,ij->i", features, features)
    return np.ascontiguousarray(np.concatenate([-2.0 * features.T, norms[None]]), np.float32)


def _nearest_column(cross: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's smallest entry: its column and its value."""
    pick = cross.argmin(1)
    return pick, np.take_along_axis(cross, pick[:, None], 1)[:, 0]
