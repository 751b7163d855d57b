"""The memory bank searched by clusters on the CPU (hmi.inference.bank_search), against the whole-bank search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from hmi.config.loader import load_recipe, load_station
from hmi.config.paths import shipped_models_dir
from hmi.core.errors import ConfigError, ModelError
from hmi.demo.product import render_part
from hmi.inference import bank_search
from hmi.inference import scoring_graph as sg
from hmi.inference.backend import CpuMatMul, Session
from hmi.inference.bank_search import MIN_CLUSTERED, ClusteredBank, split_scoring_graph
from hmi.inference.loading import package_inspector
from hmi.inference.package import ModelPackage

DEMO = shipped_models_dir() / "demo-part"


def _clumped_bank(rng: np.random.Generator, size: int, channels: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Features that gather in clumps, as patch features of good parts do, and density weights around 1."""
    centres = rng.normal(0.0, 4.0, (60, channels))
    bank = (centres[rng.integers(0, len(centres), size)] + rng.normal(0.0, 1.0, (size, channels))).astype(np.float32)
    return bank, rng.uniform(0.8, 1.1, size).astype(np.float32)


def _whole_search(bank: np.ndarray, weights: np.ndarray, features: np.ndarray) -> np.ndarray:
    squared = ((features[:, None, :].astype(np.float64) - bank[None]) ** 2).sum(-1)
    nearest = squared.argmin(1)
    return (np.sqrt(squared[np.arange(len(features)), nearest]) * weights[nearest]).astype(np.float32)


def _patches_near(rng: np.random.Generator, bank: np.ndarray, n: int) -> np.ndarray:
    return (bank[rng.integers(0, len(bank), n)] + rng.normal(0.0, 0.7, (n, bank.shape[1]))).astype(np.float32)


@pytest.mark.parametrize("size, probes", [(3000, 10**6), (MIN_CLUSTERED - 1, None)],
                         ids=["every cluster probed", "a bank too small to cluster"])
def test_the_search_finds_what_the_whole_bank_search_finds(size: int, probes: int | None) -> None:
    rng = np.random.default_rng(1)
    bank, weights = _clumped_bank(rng, size)
    searched = ClusteredBank(bank, weights, probes=probes)
    assert searched.probes == searched.clusters and (searched.clusters > 1) == (size >= MIN_CLUSTERED)
    patches = _patches_near(rng, bank, 500)
    np.testing.assert_allclose(searched.weighted_distances(patches), _whole_search(bank, weights, patches),
                               rtol=1e-4, atol=1e-4)


def test_the_default_probes_find_the_nearest_feature_of_nearly_every_patch() -> None:
    rng = np.random.default_rng(2)
    bank, weights = _clumped_bank(rng, 4096)
    searched = ClusteredBank(bank, weights)
    assert 1 < searched.probes < searched.clusters
    patches = _patches_near(rng, bank, 2000)
    found, whole = searched.weighted_distances(patches), _whole_search(bank, weights, patches)
    assert np.mean(np.isclose(found, whole, rtol=1e-4, atol=1e-4)) >= 0.97
    # a patch whose nearest feature was missed gets another bank feature's weighted distance, not a made-up one
    missed = ~np.isclose(found, whole, rtol=1e-4, atol=1e-4)
    every = np.sqrt(((patches[missed, None, :] - bank[None]) ** 2).sum(-1)) * weights[None]
    assert np.all(np.isclose(every, found[missed, None], rtol=1e-4, atol=1e-4).any(1))


def test_the_patches_found_farthest_are_those_of_the_whole_bank_search() -> None:
    rng = np.random.default_rng(3)
    bank, weights = _clumped_bank(rng, 4096)
    patches = _patches_near(rng, bank, 2000)
    patches[:60] += rng.normal(0.0, 3.0, (60, bank.shape[1])).astype(np.float32)  # flaws: far from every cluster
    found, whole = ClusteredBank(bank, weights).weighted_distances(patches), _whole_search(bank, weights, patches)
    farthest = np.argsort(found)[-int(bank_search.RECHECK_SHARE * len(patches)):]
    np.testing.assert_allclose(found[farthest], whole[farthest], rtol=1e-4, atol=1e-4)
    assert set(np.argsort(whole)[-60:]) <= set(farthest)  # the flaws among them, each at its true distance


@pytest.fixture
def small_halves(monkeypatch: pytest.MonkeyPatch) -> None:
    """Share out runs of a few thousand patches between threads, as the search does with larger ones."""
    monkeypatch.setattr(bank_search, "SPLIT_PATCHES", 1024)


def test_a_run_is_shared_out_only_where_each_thread_gets_enough_patches() -> None:
    rng = np.random.default_rng(7)
    bank, weights = _clumped_bank(rng, 3000)
    searched = ClusteredBank(bank, weights, threads=2)
    halves: list[int] = []
    by_clusters = searched._by_clusters
    searched._by_clusters = lambda f, norms: halves.append(len(f)) or by_clusters(f, norms)
    searched.weighted_distances(_patches_near(rng, bank, 2 * bank_search.SPLIT_PATCHES - 1))
    assert halves == [2 * bank_search.SPLIT_PATCHES - 1]  # on the calling thread: two would share the GIL
    halves.clear()
    searched.weighted_distances(_patches_near(rng, bank, 2 * bank_search.SPLIT_PATCHES))
    assert sorted(halves) == [bank_search.SPLIT_PATCHES] * 2


@pytest.mark.usefixtures("small_halves")
def test_patches_searched_on_two_threads_come_back_in_their_order() -> None:
    rng = np.random.default_rng(4)
    bank, weights = _clumped_bank(rng, 3000)
    patches = _patches_near(rng, bank, 5000)
    one = ClusteredBank(bank, weights).weighted_distances(patches)
    two = ClusteredBank(bank, weights, threads=2).weighted_distances(patches)
    np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-4)  # the products' rounding depends on their sizes


@pytest.mark.usefixtures("small_halves")
def test_an_image_is_searched_the_same_alone_or_in_a_batch_on_any_threads() -> None:
    rng = np.random.default_rng(5)
    bank, weights = _clumped_bank(rng, 4096)
    images = np.stack([_patches_near(rng, bank, 1500) for _ in range(3)])
    images[1, :40] += rng.normal(0.0, 3.0, (40, bank.shape[1])).astype(np.float32)  # flaws in the second image
    alone = np.stack([ClusteredBank(bank, weights).weighted_distances(image) for image in images])
    for threads in (1, 2):
        batched = ClusteredBank(bank, weights, threads=threads).weighted_distances(images)
        assert batched.shape == (3, 1500)
        np.testing.assert_allclose(batched, alone, rtol=1e-5, atol=1e-4)
    # Each image's own farthest patches were searched over the whole bank, the flawed image's and the others'.
    k = int(np.ceil(bank_search.RECHECK_SHARE * 1500))
    for image, found in zip(images, alone):
        farthest = np.argsort(found)[-k:]
        np.testing.assert_allclose(found[farthest], _whole_search(bank, weights, image[farthest]), rtol=1e-4, atol=1e-4)


@pytest.mark.usefixtures("small_halves")
def test_onnx_runtimes_product_searches_as_numpys_does_on_two_threads() -> None:
    rng = np.random.default_rng(6)
    bank, weights = _clumped_bank(rng, 4096)
    patches = _patches_near(rng, bank, 5000)
    patches[:80] += rng.normal(0.0, 3.0, (80, bank.shape[1])).astype(np.float32)
    a = rng.normal(size=(300, 17)).astype(np.float32)
    b = rng.normal(size=(17, 140)).astype(np.float32)
    np.testing.assert_allclose(CpuMatMul()(a, b), a @ b, rtol=1e-5, atol=1e-4)
    by_numpy = ClusteredBank(bank, weights).weighted_distances(patches)
    by_runtime = ClusteredBank(bank, weights, threads=2, matmul=CpuMatMul()).weighted_distances(patches)
    np.testing.assert_allclose(by_runtime, by_numpy, rtol=1e-5, atol=1e-4)


def _demo_frames() -> np.ndarray:
    return np.stack([np.repeat(render_part(seed, defect).image[..., None], 3, 2)
                     for seed, defect in ((5, None), (6, "dent"))])


def test_a_taught_model_on_the_cpu_searches_by_clusters_and_gives_the_whole_search_map(monkeypatch) -> None:
    path = DEMO / "model.onnx"
    whole = Session(path, provider="cpu", bank_search="whole")
    assert whole.info.label == "cpu"
    monkeypatch.setattr(bank_search, "PROBES", 10**6)  # every cluster probed: the search is exact
    exact = Session(path, provider="cpu")
    assert exact.info.label == "cpu-clusters" and exact.info.provider == "cpu"
    frames = _demo_frames()
    a, b = whole.run({"image": frames}), exact.run({"image": frames})
    np.testing.assert_allclose(b["anomaly_map"], a["anomaly_map"], atol=2e-3)
    np.testing.assert_allclose(b["score"], a["score"], atol=2e-3)
    assert exact.output_names == whole.output_names and exact.inputs() == whole.inputs()


def test_the_default_clusters_judge_the_demo_parts_as_the_whole_search_does() -> None:
    path = DEMO / "model.onnx"
    frames = _demo_frames()
    a = Session(path, provider="cpu", bank_search="whole").run({"image": frames})
    b = Session(path, provider="cpu").run({"image": frames})
    # scores within 2 %, and nine map cells in ten the same: the figures measured on the real sets are in
    # docs/performance.md
    np.testing.assert_allclose(b["score"], a["score"], rtol=0.02)
    assert np.mean(np.isclose(b["anomaly_map"], a["anomaly_map"], atol=1e-3)) >= 0.9
    threshold = ModelPackage.load(DEMO).manifest.thresholds.score
    assert (b["score"] >= threshold).tolist() == (a["score"] >= threshold).tolist() == [False, True]


def test_a_graph_without_the_taught_search_is_not_split(tmp_path: Path) -> None:
    features, _ = sg.feature_map_graph(sg.load_backbone())
    assert split_scoring_graph(features) is None
    model = onnx.load(str(DEMO / "model.onnx"))
    assert split_scoring_graph(model) is not None
    relu = next(n for n in model.graph.node if n.output[0] == "nn/clamped")
    relu.op_type = "Abs"  # no longer the search the numpy code stands in for
    assert split_scoring_graph(model) is None
    onnx.save(model, str(tmp_path / "changed.onnx"))
    assert Session(tmp_path / "changed.onnx", provider="cpu").info.label == "cpu"


def test_an_unknown_bank_search_is_refused_in_plain_words(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown memory-bank search 'fast'"):
        Session(DEMO / "model.onnx", provider="cpu", bank_search="fast")
    with pytest.raises(ConfigError, match="bank_search"):
        load_station(tmp_path / "data", ["inference.bank_search=fast"])


def test_the_station_setting_chooses_the_search(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for setting, label in (("whole", "cpu"), ("clusters", "cpu-clusters")):
        cfg = load_station(data, ["inference.provider=cpu", f"inference.bank_search={setting}"])
        recipe = load_recipe(data, cfg.station.recipe)
        inspector = package_inspector(cfg, data, recipe, ModelPackage.load(DEMO), warm_up=False)
        assert inspector.backend == label
