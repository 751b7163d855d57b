"""Read station and recipe TOML files, apply --set overrides, and report errors in plain words."""

from __future__ import annotations

import logging
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import tomli_w
from pydantic import BaseModel, ValidationError

from hmi.config.paths import PRIVATE_DIR_MODE, make_private, resources_dir, tighten_data_dir
from hmi.config.schema import Recipe, StationConfig
from hmi.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger("hmi.config")

STATION_FILE = "station.toml"
RECIPES_DIR = "recipes"
# A recipe's name is also its file's name: letters (any language), digits, space, '_', '-', '+', '.'; never a path.
_RECIPE_NAME = re.compile(r"[^\W_][\w .+-]{0,63}")  # \w: letters of any language, digits and '_'
_DEVICE_NAMES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                           *(f"LPT{i}" for i in range(1, 10))})
RECIPE_NAME_RULE = ("use 1 to 64 letters, digits, spaces, '_', '-', '+' or '.', starting with a letter or digit "
                    "(no '..', '/' or '\\': a recipe name is a file name in DATA_DIR/recipes)")


def check_recipe_name(name: str, where: str = "") -> str:
    """`name` when it may name a recipe (and its file); ConfigError in plain words otherwise. The one rule."""
    text = name if isinstance(name, str) else ""
    if (not _RECIPE_NAME.fullmatch(text) or ".." in text or text.endswith((".", " "))
            or text.split(".")[0].strip().upper() in _DEVICE_NAMES):
        raise ConfigError(f"{where + ': ' if where else ''}{name!r} cannot be a recipe name", RECIPE_NAME_RULE)
    return text


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
    """Parse a TOML file (UTF-8) into a dict, or raise ConfigError saying what is wrong with it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found", "check the path or run the station once to create it") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})",
                          "check that it is a file the station's account may read") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark (Notepad's) is fine
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        head = raw[:64]  # UTF-16 has a byte order mark, or a zero byte beside every ASCII letter
        utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(head) >= 4 and not (any(head[1::2]) and any(head[::2])))
        kind = "it looks like UTF-16 text" if utf16 else "it holds binary data"
        raise ConfigError(f"{path}: not a UTF-8 text file ({kind})",
                          "save it again as UTF-8 text (an editor's 'Save as', encoding UTF-8), or put back a copy "
                          "that was")
    try:
        return tomllib.loads(text)
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


def check_data_dir(data_dir: Path) -> None:
    """Refuse a data folder path that names something other than a folder (a file, say)."""
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"the data folder {data_dir} is a file, not a folder",
                          "give --data-dir a folder (it is created when missing), or move the file away")


def ensure_data_dir(data_dir: Path) -> None:
    """Create the data directory (owner-only) with the shipped station file and recipes on first use.

    An existing folder that others may read is made owner-only, with a line in the log.
    """
    check_data_dir(data_dir)
    try:
        data_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        station = data_dir / STATION_FILE
        if not station.exists():
            shutil.copyfile(resources_dir() / STATION_FILE, station)
        recipes = data_dir / RECIPES_DIR
        if not recipes.exists():
            shutil.copytree(resources_dir() / RECIPES_DIR, recipes)
    except OSError as exc:
        raise ConfigError(f"cannot prepare the data folder {data_dir} ({exc.strerror or exc})",
                          "check the --data-dir path and that the station's account may write there") from None
    changed = tighten_data_dir(data_dir)
    if changed:
        named = ", ".join(str(p.relative_to(data_dir)) or "." for p in changed[:8])
        log.info("data folder %s: %d files and folders that others could read are now the station's account's "
                 "only (%s)", data_dir, len(changed), named)


def load_station(data_dir: Path, overrides: list[str] | None = None) -> StationConfig:
    """Load DATA_DIR/station.toml with overrides applied; every error names the file and key."""
    ensure_data_dir(data_dir)
    path = data_dir / STATION_FILE
    data = read_toml(path)
    source = str(path)
    if overrides:
        data = apply_overrides(data, overrides)
        source += " with --set " + " ".join(overrides)
    cfg = validate(StationConfig, data, source)
    check_recipe_name(cfg.station.recipe, f"{source}: key 'station.recipe'")
    return cfg


def recipe_path(data_dir: Path, name: str) -> Path:
    """File of the recipe called `name` (ConfigError for a name that is not a recipe name)."""
    return data_dir / RECIPES_DIR / f"{check_recipe_name(name)}.toml"


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
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(recipe.model_dump(mode="json", exclude_none=True)), encoding="utf-8")
    make_private(tmp)
    tmp.replace(path)
    return path
