"""Turning a recipe into what judges parts: its model folder, its warmed-up inspector, its threshold set."""

from __future__ import annotations

from pathlib import Path

from hmi.config.paths import shipped_models_dir
from hmi.config.schema import Recipe, StationConfig
from hmi.core.errors import ModelError
from hmi.core.setup import LightingReference, SetupInForce
from hmi.core.verdict import Verdict
from hmi.decision.policy import ThresholdSet
from hmi.inference.inspector import Inspector
from hmi.inference.package import ModelPackage, threshold_problem
from hmi.inference.worker import JudgingSetup


def model_roots(data_dir: Path) -> tuple[Path, Path]:
    """Where models are looked for: the station's own folder first, then the shipped ones."""
    return data_dir / "models", shipped_models_dir()


def find_model(name: str, data_dir: Path) -> Path:
    """Folder of the model called `name`: the station's own models first, then the shipped ones."""
    for root in model_roots(data_dir):
        if (root / name).is_dir():
            return root / name
    raise ModelError(f"model '{name}' not found in {data_dir / 'models'} or {shipped_models_dir()}",
                     "teach it with 'hmi teach' or correct the recipe's model name")


def thresholds_of(recipe: Recipe) -> ThresholdSet:
    """The recipe's threshold set as the decision policy takes it."""
    t = recipe.thresholds
    return ThresholdSet(t.version, t.score, t.hold_below, t.hold_above, t.min_defect_area_px)


def judging_setup(recipe: Recipe, inspector: Inspector | None, problem: str = "") -> JudgingSetup:
    """The whole setup `recipe` puts in force with `inspector` (None: every part NOT_INSPECTED for `problem`)."""
    thresholds = thresholds_of(recipe)
    light = recipe.lighting
    # The stored anomaly maps' colour scale: cold below 80 % of the region threshold, hottest at 120 %.
    heat = None if inspector is None else (0.8 * inspector.region_threshold, 1.2 * inspector.region_threshold)
    carried = SetupInForce(
        recipe=recipe.name, threshold_version=thresholds.version, model=recipe.model.name,
        model_sha256=recipe.model.sha256 or "", defect_types=tuple(recipe.defect_types),
        hold_timeout_s=float(recipe.hold.timeout_s), hold_default=Verdict[recipe.hold.default],
        reject_rate_limit=recipe.reject_rate_limit,
        lighting=LightingReference(light.mean, light.limit_pct, light.every_n), heat_limits=heat)
    return JudgingSetup(recipe.name, thresholds, inspector, problem, carried)


def check_thresholds(recipe: Recipe, package: ModelPackage) -> None:
    """Refuse (ModelError) a recipe whose thresholds are not finite or lie outside the scores its model gives."""
    t = recipe.thresholds
    if problem := threshold_problem(t.score, t.hold_below, t.hold_above, package.manifest):
        raise ModelError(f"recipe '{recipe.name}', threshold version {t.version}: {problem}",
                         "set thresholds inside the model's score range on the thresholds screen (technician), "
                         "or choose the model the thresholds were set for")


def load_inspector(cfg: StationConfig, data_dir: Path, recipe: Recipe, *, warm_up: bool = True,
                   judges_by_recipe: bool = True) -> Inspector:
    """Load (and warm up) the recipe's model with its ROI; raises ModelError in plain words.

    Refused before anything runs: a package whose manifest does not match its ONNX file, and (unless
    `judges_by_recipe` is False: a what-if of another model under other thresholds) the recipe's thresholds
    outside the model's score range (docs/models.md).
    """
    package = ModelPackage.load(find_model(recipe.model.name, data_dir), recipe.model.sha256)
    if judges_by_recipe:
        check_thresholds(recipe, package)
    return package_inspector(cfg, data_dir, recipe, package, warm_up=warm_up)


def package_inspector(cfg: StationConfig, data_dir: Path, recipe: Recipe, package: ModelPackage, *,
                      warm_up: bool = True) -> Inspector:
    """`package` run as the station runs models: the recipe's inspection area, provider, tiling, engine cache."""
    cache = Path(cfg.inference.engine_cache) if cfg.inference.engine_cache else data_dir / "engines"
    inspector = Inspector(package, provider=cfg.inference.provider, threads=cfg.inference.threads,
                          bank_search=cfg.inference.bank_search, engine_cache=cache,
                          roi_rectangles=[tuple(r) for r in recipe.roi.rectangles],
                          roi_polygons=[[tuple(p) for p in poly] for poly in recipe.roi.polygons],
                          tile=cfg.inference.tile, batch=cfg.inference.batch)
    if warm_up:
        inspector.warm_up(cfg.inference.warmup_runs)
    return inspector
