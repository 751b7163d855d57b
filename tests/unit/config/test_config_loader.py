"""Station and recipe files: validation, overrides, messages that name file, key and what is allowed."""

from __future__ import annotations

import pytest

from hmi.config.loader import load_recipe, load_station, save_recipe
from hmi.core.errors import ConfigError


def test_first_use_creates_data_dir_with_defaults(tmp_path):
    cfg = load_station(tmp_path / "data")
    assert (tmp_path / "data" / "station.toml").exists()
    assert (tmp_path / "data" / "recipes" / "demo.toml").exists()
    assert cfg.station.recipe == "demo"
    assert cfg.plc.mode == "simulated"


def test_override_is_typed_and_validated(tmp_path):
    cfg = load_station(tmp_path, ["camera.gain_db=3.5", "camera.trigger=hardware", "pipeline.frame_queue=8"])
    assert cfg.camera.gain_db == 3.5
    assert cfg.camera.trigger == "hardware"
    assert cfg.pipeline.frame_queue == 8


def test_unknown_key_in_file_names_file_and_key(tmp_path):
    load_station(tmp_path)
    path = tmp_path / "station.toml"
    path.write_text(path.read_text() + "\n[camera2]\nfoo = 1\n")
    with pytest.raises(ConfigError) as err:
        load_station(tmp_path)
    text = str(err.value)
    assert str(path) in text and "unknown key 'camera2'" in text


def test_typo_in_override_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'camera.gian_db'"):
        load_station(tmp_path, ["camera.gian_db=3"])


def test_value_out_of_range_says_what_is_allowed(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_station(tmp_path, ["camera.trigger=sometimes"])
    assert "camera.trigger" in str(err.value)
    assert "free_run" in str(err.value) and "hardware" in str(err.value)


def test_broken_toml_reports_syntax(tmp_path):
    load_station(tmp_path)
    (tmp_path / "station.toml").write_text("[station\nname=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_station(tmp_path)


def test_override_without_equals_is_explained(tmp_path):
    with pytest.raises(ConfigError, match="dotted.key=value"):
        load_station(tmp_path, ["camera.gain_db"])


def test_recipe_round_trip_and_missing_recipe(tmp_path):
    load_station(tmp_path)
    recipe = load_recipe(tmp_path, "demo")
    copy = recipe.model_copy(update={"name": "flange-b", "plc_recipe_number": 7})
    save_recipe(tmp_path, copy)
    again = load_recipe(tmp_path, "flange-b")
    assert again.plc_recipe_number == 7 and again.model.name == recipe.model.name
    with pytest.raises(ConfigError, match="choose one of: demo, flange-b"):
        load_recipe(tmp_path, "nope")
