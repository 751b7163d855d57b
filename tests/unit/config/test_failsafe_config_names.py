"""One rule for recipe names wherever a name becomes a path; station files read as UTF-8 text or refused in
words; [users] min_pin_length; recipes written owner-only (issue 15 items 8 and 9)."""

from __future__ import annotations

import os

import pytest

from hmi.config.loader import (check_recipe_name, load_recipe, load_station, read_toml, recipe_path, save_recipe,
                               validate)
from hmi.config.schema import Recipe, RecipeModel, RecipeThresholds, StationConfig
from hmi.core.errors import ConfigError


@pytest.mark.parametrize("name", ["demo", "Gear 2", "housing-b", "part_7.rev2", "A+B", "Gehäuse 2", "x" * 64])
def test_names_of_products_are_recipe_names(name):
    assert check_recipe_name(name) == name


@pytest.mark.parametrize("name", ["", "..", "../station", "a/b", "a\\b", ".hidden", "demo.", "demo ", " demo",
                                  "a..b", "CON", "nul.txt", "x" * 65, "tab\there", "_under", "a:b", "a*b"])
def test_anything_that_could_be_a_path_is_not(name):
    with pytest.raises(ConfigError, match="cannot be a recipe name") as err:
        check_recipe_name(name)
    assert "no '..', '/' or '\\'" in err.value.todo


def test_every_loader_goes_through_the_rule(tmp_path):
    with pytest.raises(ConfigError, match="cannot be a recipe name"):
        recipe_path(tmp_path, "../station")
    with pytest.raises(ConfigError, match="cannot be a recipe name"):
        load_recipe(tmp_path, "../../etc/passwd")
    bad = Recipe(name="../evil", model=RecipeModel(name="tiny"), thresholds=RecipeThresholds(score=0.5))
    with pytest.raises(ConfigError, match="cannot be a recipe name"):
        save_recipe(tmp_path, bad)
    assert not (tmp_path / "evil.toml").exists()
    with pytest.raises(ConfigError, match="key 'station.recipe': '..' cannot be a recipe name"):
        load_station(tmp_path / "data", ["station.recipe=..", "plc.mode=off"])


def test_a_saved_recipe_is_the_station_accounts_only(tmp_path):
    good = Recipe(name="gear", model=RecipeModel(name="tiny"), thresholds=RecipeThresholds(score=0.5))
    path = save_recipe(tmp_path, good)
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600


def test_a_byte_order_mark_is_fine_but_utf16_and_binary_are_named(tmp_path):
    path = tmp_path / "station.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'[station]\nname = "Line 4"\n')
    assert read_toml(path) == {"station": {"name": "Line 4"}}
    path.write_bytes('[station]\nname = "Line 4"\n'.encode("utf-16-le"))  # no byte order mark
    with pytest.raises(ConfigError, match="not a UTF-8 text file \\(it looks like UTF-16 text\\)"):
        read_toml(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(ConfigError, match="binary data"):
        read_toml(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        read_toml(tmp_path)  # a folder where the file should be


def test_the_minimum_pin_length_is_six_by_default_and_stays_within_the_keypad():
    assert StationConfig.model_validate({"plc": {"mode": "off"}}).users.min_pin_length == 6
    strict = validate(StationConfig, {"plc": {"mode": "off"}, "users": {"min_pin_length": 8}}, "t")
    assert strict.users.min_pin_length == 8
    for bad in (4, 5, 13):
        with pytest.raises(ConfigError, match="users.min_pin_length"):
            validate(StationConfig, {"plc": {"mode": "off"}, "users": {"min_pin_length": bad}}, "t")
