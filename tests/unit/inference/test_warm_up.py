"""A model judged in tiles warms up on frames of the size it was taught on, so the line's first part is not slow."""

from __future__ import annotations

from hmi.config.paths import shipped_models_dir
from hmi.inference.inspector import Inspector
from hmi.inference.package import ModelPackage


def test_the_demo_model_warms_up_on_frames_of_its_taught_size():
    package = ModelPackage.load(shipped_models_dir() / "demo-part")
    g = package.manifest.geometry
    assert g is not None and g.scale == 1.0
    inspector = Inspector(package, provider="cpu")
    assert inspector.tiled is not None
    inspector.warm_up(2)
    # two frames of the taught 384 px, not of the 512 px input (which the line never sends)
    assert inspector.tiled.frames_run == 2
    assert inspector.tiled.has_planned((384, 384)) and not inspector.tiled.has_planned((512, 512))


def test_a_model_taught_on_large_frames_warms_up_on_one_of_their_size(tmp_path):
    from hmi.inference.geometry import Geometry
    from hmi.inference.package import GeometrySpec

    package = ModelPackage.load(shipped_models_dir() / "demo-part")
    # the demo graph under the geometry of a line that taught 2048 px frames at teach size 512 (scale 0.25)
    package.manifest.geometry = GeometrySpec(scale=0.25, tile=512, overlap=64, teach_size=512)
    inspector = Inspector(package, provider="cpu")
    assert inspector.tiled is not None and inspector.tiled.geometry == Geometry(scale=0.25, tile=512, overlap=64)
    inspector.warm_up(1)
    assert inspector.tiled.has_planned((2048, 2048))


class _TimedSession:
    """The demo model's real session on a clock of its own: a run of n tiles 'takes' COST[n] per tile."""

    COST = {1: 3.0, 2: 2.0, 4: 2.5}

    def __init__(self, session, clock: list[float]) -> None:
        self.session, self.clock, self.sizes = session, clock, []

    def run(self, feeds, outputs):
        batch = len(next(iter(feeds.values())))
        self.sizes.append(batch)
        self.clock[0] += self.COST[batch] * batch
        return self.session.run(feeds, outputs)


def test_the_tiles_a_run_are_those_measured_fastest_and_judge_the_same(monkeypatch):
    import numpy as np

    from hmi.demo.product import render_part
    from hmi.inference import geometry

    package = ModelPackage.load(shipped_models_dir() / "demo-part")
    frame = render_part(7, "scratch", size=900).image  # judged in four tiles at the taught scale
    fixed = Inspector(package, provider="cpu")
    assert fixed.tiled.geometry.batch == 4  # no batch given: the model's own, nothing measured
    tuned = Inspector(package, provider="cpu", batch=0)
    clock = [0.0]
    timed = _TimedSession(tuned.tiled.session, clock)
    monkeypatch.setattr(tuned.tiled, "session", timed)
    monkeypatch.setattr(geometry.time, "perf_counter", lambda: clock[0])
    tuned.warm_up(1)
    assert tuned.tiled.geometry.batch == 2  # the cheapest a tile on this (made-up) clock
    assert set(timed.sizes) == set(geometry.BATCHES) and tuned.tiled.frames_run == 1  # tuning runs are not parts
    monkeypatch.undo()
    # The same part judged two tiles a run and four a run: the same score and map (each tile searched alike).
    a, b = tuned.inspect(frame), fixed.inspect(frame)
    assert tuned.tiled.model_runs == 1 + 2 and fixed.tiled.model_runs == 1
    assert abs(a.score - b.score) <= 1e-4 * b.score
    np.testing.assert_allclose(a.anomaly_map, b.anomaly_map, rtol=1e-4, atol=1e-4)
    assert Inspector(package, provider="cpu", batch=1).tiled.geometry.batch == 1  # a fixed batch is kept
