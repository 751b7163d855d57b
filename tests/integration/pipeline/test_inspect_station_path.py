"""`hmi inspect` judges image files through the station's own path: the recipe's model, inspection area and
thresholds, the capture and inference threads; every file once, in the given order, none dropped."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2

from hmi.cli import main
from hmi.config.loader import load_recipe, save_recipe
from hmi.config.schema import InspectionRoi
from tests.support.tiny_model import frame_with_spot, plain_frame

SPOT = (40, 40, 24, 24)  # where frame_with_spot puts its bright square (x, y, w, h) in a 96 px frame


def _inspect(data: Path, out: Path, *args: str) -> list[dict[str, str]]:
    assert main(["inspect", *args, "--csv", str(out), "--data-dir", str(data)]) == 0
    return list(csv.DictReader(out.open(encoding="utf-8")))


def _recipe_with_area(data: Path, name: str, rect: tuple[int, int, int, int]) -> None:
    """A copy of the tiny recipe that judges only inside `rect`."""
    tiny = load_recipe(data, "tiny")
    save_recipe(data, tiny.model_copy(update={"name": name, "roi": InspectionRoi(rectangles=[rect])}))


def test_inspect_applies_the_recipes_inspection_area(line, tmp_path):
    data, _ = line
    spot = tmp_path / "spot.png"
    cv2.imwrite(str(spot), frame_with_spot(96, box=SPOT))
    _recipe_with_area(data, "tiny-corner", (0, 72, 24, 24))   # far from the spot
    _recipe_with_area(data, "tiny-spot", (30, 30, 40, 40))    # around it

    (whole,) = _inspect(data, tmp_path / "whole.csv", str(spot), "--recipe", "tiny")
    assert whole["verdict"] == "NG"
    # The recipe in force (station.recipe), as the line would judge the part: the defect lies outside its area.
    (corner,) = _inspect(data, tmp_path / "corner.csv", str(spot), "--set", "station.recipe=tiny-corner")
    assert corner["verdict"] == "OK" and float(corner["score"]) < 0.05 and json.loads(corner["regions"]) == []
    (inside,) = _inspect(data, tmp_path / "inside.csv", str(spot), "--recipe", "tiny-spot")
    assert inside["verdict"] == "NG" and float(inside["score"]) > 0.5
    (region,) = json.loads(inside["regions"])
    assert 30 <= region["x"] <= region["x"] + region["w"] <= 70 and 30 <= region["y"] <= region["y"] + region["h"] <= 70
    assert float(inside["confidence"]) > 0.5  # the defect confidence the line shows, 0.5 at the NG limit

    # Another model package (--model) under its own thresholds: still only inside the recipe's area.
    (other,) = _inspect(data, tmp_path / "other.csv", str(spot), "--recipe", "tiny-corner",
                        "--model", str(data / "models" / "tiny"))
    assert other["verdict"] == "OK"


def test_every_file_in_its_place_unreadable_ones_not_inspected(line, tmp_path, capsys):
    data, _ = line
    folder = tmp_path / "images"
    folder.mkdir()
    good, bad = folder / "good.png", folder / "bad.png"
    cv2.imwrite(str(good), plain_frame(96))
    cv2.imwrite(str(bad), frame_with_spot(96, box=SPOT))
    broken = folder / "broken.png"
    broken.write_bytes(b"not an image")
    missing = folder / "missing.png"
    given = [bad, broken, good, missing, bad, good]
    # A queue shorter than the parts in flight: the trigger still waits for the model, nothing is turned away.
    rows = _inspect(data, tmp_path / "out.csv", *map(str, given), "--recipe", "tiny",
                    "--set", "pipeline.frame_queue=1", "--set", "pipeline.max_in_flight=4")
    assert [r["path"] for r in rows] == [str(p) for p in given]
    assert [r["verdict"] for r in rows] == ["NG", "NOT_INSPECTED", "OK", "NOT_INSPECTED", "NG", "OK"]
    assert "broken.png cannot be read" in rows[1]["reason"] and rows[1]["score"] == ""
    assert "missing.png does not exist" in rows[3]["reason"]
    assert all(r["model_sha256"] == rows[0]["model_sha256"] != "" for r in rows)
    err = capsys.readouterr().err
    assert "2 images could not be read and are NOT_INSPECTED in the CSV" in err


def test_a_folder_of_many_images_all_judged_in_name_order(line, tmp_path, capsys):
    data, _ = line
    folder = tmp_path / "many"
    folder.mkdir()
    expected = {}
    for i in range(40):
        name = folder / f"p{i:03d}.png"
        spotted = i % 5 == 3
        cv2.imwrite(str(name), frame_with_spot(96, box=SPOT) if spotted else plain_frame(96))
        expected[str(name)] = "NG" if spotted else "OK"
    rows = _inspect(data, tmp_path / "many.csv", str(folder), "--recipe", "tiny")
    assert [(r["path"], r["verdict"]) for r in rows] == sorted(expected.items())
    assert "40 images judged with 'tiny' (recipe 'tiny')" in capsys.readouterr().out
