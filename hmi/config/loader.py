"""Read station and recipe TOML files, apply --set overrides, and report errors in plain words."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from pydantic import BaseModel, ValidationError

from hmi.config.paths import resources_dir
from hmi.config.schema import Recipe, StationConfig
from hmi.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

STATION_FILE = "station.toml"
RECIPES_DIR = "recipes"


def _describe(err: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in err.get("loc", ())) or "(file)"
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown key '{key}'"
    if kind == "missing":
        return f"key '{key}' is required"
    ctx = err.get("ctx") or {}
    allowed = ""
    if "expected" in ctx:
        allowed = f" (allowed: {ctx['expected']})"
    return f"key '{key}': {err.get('msg', 'invalid')}{allowed}, got {err.get('input')!r}"


def validate(model: type[M], data: dict[str, Any], source: str) -> M:
    """Build `model` from `data` or raise one ConfigError naming the source, every bad key and what is allowed."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}", "correct the file or the --set value and start again") from None


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file into a dict, or raise ConfigError saying where the syntax breaks."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found", "check the path or run the station once to create it") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})", "fix the syntax at that line") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split 'a.b.c=value' into a key path and a TOML-typed value (bare words are strings)."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected dotted.key=value", "for example --set camera.gain_db=3")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {text}: the key is empty", "for example --set camera.gain_db=3")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `data` with every --set override applied (validation happens afterwards)."""
    merged: dict[str, Any] = _deep_copy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = merged
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text}: '{p}' is a value, not a section", "check the key's spelling")
            node = child
        node[parts[-1]] = value
    return merged


def _deep_copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in d.items()}


def ensure_data_dir(data_dir: Path) -> None:
    """Create the data directory with the shipped station file and recipes on first use."""
    data_dir.mkdir(parents=True, exist_ok=True)
    station = data_dir / STATION_FILE
    if not station.exists():
        shutil.copyfile(resources_dir() / STATION_FILE, station)
    recipes = data_dir / RECIPES_DIR
    if not recipes.exists():
        shutil.copytree(resources_dir() / RECIPES_DIR, recipes)


def load_station(data_dir: Path, overrides: list[str] | None = None) -> StationConfig:
    """Load DATA_DIR/station.toml with overrides applied; every error names the file and key."""
    ensure_data_dir(data_dir)
    path = data_dir / STATION_FILE
    data = read_toml(path)
    source = str(path)
    if overrides:
        data = apply_overrides(data, overrides)
        source += " with --set " + " ".join(overrides)
    return validate(StationConfig, data, source)


def recipe_path(data_dir: Path, name: str) -> Path:
    """File of the recipe called `name`."""
    return data_dir / RECIPES_DIR / f"{name}.toml"


def load_recipe(data_dir: Path, name: str) -> Recipe:
    """Load recipes/NAME.toml, validated."""
    path = recipe_path(data_dir, name)
    if not path.exists():
        known = sorted(p.stem for p in (data_dir / RECIPES_DIR).glob("*.toml"))
        raise ConfigError(f"recipe '{name}' not found in {path.parent}",
                          f"choose one of: {', '.join(known) or 'none yet'}")
    recipe = validate(Recipe, read_toml(path), str(path))
    if recipe.name != name:
        raise ConfigError(f"{path}: key 'name' is '{recipe.name}' but the file is named '{name}'",
                          "make the name match the file name")
    return recipe


def save_recipe(data_dir: Path, recipe: Recipe) -> Path:
    """Write a recipe atomically (write a temporary file, then rename)."""
    path = recipe_path(data_dir, recipe.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(recipe.model_dump(mode="json", exclude_none=True)), encoding="utf-8")
    tmp.replace(path)
    return path
