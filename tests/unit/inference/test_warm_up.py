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
