"""Teaching from good parts: a verified package, sensible scores, plain refusals, nothing left half-done."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from hmi.core.errors import ModelError
from hmi.inference.inspector import Inspector
from hmi.inference.package import ModelPackage
from hmi.inference.teach import TeachCancelled, TeachReport, bank_size_for, teach

SIZE = 64


def part_image(seed: int, defect: bool = False) -> np.ndarray:
    """A grey disc on a textured belt, shifted a little per part; a defect is a dark gash across the disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    img = 60 + 10 * np.sin(xx / 3.0) + rng.normal(0, 3, (96, 96))
    cx, cy = 48 + rng.uniform(-3, 3), 48 + rng.uniform(-3, 3)
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 < 30 ** 2
    img[disc] = 170 + 0.3 * (xx[disc] - cx)
    if defect:
        cv2.line(img, (int(cx) - 18, int(cy) - 10), (int(cx) + 14, int(cy) + 12), 20.0, 4)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_parts(folder: Path, seeds: range) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in seeds:
        path = folder / f"part_{seed:03d}.png"
        cv2.imwrite(str(path), part_image(seed))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def taught(tmp_path_factory: pytest.TempPathFactory) -> tuple[TeachReport, list[tuple[str, float]], list[Path]]:
    """One teach run on 20 good parts plus two unusable files, shared by the tests that only read its result."""
    root = tmp_path_factory.mktemp("teach")
    paths = write_parts(root / "good", range(20))
    (root / "good" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    (root / "good" / "empty.png").write_bytes(b"")
    paths += [root / "good" / "broken.png", root / "good" / "empty.png"]
    calls: list[tuple[str, float]] = []
    report = teach(paths, root / "models" / "disc", name="disc", input_size=SIZE, seed=1,
                   progress=lambda text, fraction: calls.append((text, fraction)))
    return report, calls, paths


def test_package_passes_the_stations_own_check(taught: tuple[TeachReport, list, list]) -> None:
    report, _, _ = taught
    package = ModelPackage.load(report.model_dir, expect_sha256=report.sha256)
    m = package.manifest
    assert (m.kind, m.input.layout, m.input.dtype, m.input.color) == ("anomaly", "NHWC", "uint8", "RGB")
    assert m.geometry is not None and m.geometry.teach_size == SIZE
    assert m.geometry.scale == pytest.approx(SIZE / 96, abs=1e-6)  # the parts' shorter side brought to SIZE
    assert m.input.width == m.input.height == m.geometry.tile
    assert m.outputs == {"score": "score", "anomaly_map": "anomaly_map"}
    # 20 images are few: each is held out once (cross-checked), so all 20 give an unseen good score.
    assert (m.training.images, m.training.heldout_images) == (20, 20) == (report.images_used, report.heldout)
    assert len(m.training.heldout_scores) == 20 and len(m.training.data_sha256) == 64
    assert m.training.bank_size == report.bank_size == bank_size_for(20 * (SIZE // 8) ** 2, 0.01) == 1000
    assert m.thresholds.score == report.threshold > float(np.median(m.training.heldout_scores))
    assert m.thresholds.hold_above == 0.0 and m.thresholds.hold_below > 0.0
    assert 0 < m.region_threshold < m.thresholds.score
    assert sorted(p.name for p in report.model_dir.iterdir()) == ["manifest.json", "model.onnx"]
    # 20 held-out parts are too few for a reliable 1 % threshold: the report and the manifest say how many more.
    assert report.more_images_needed == m.extra["more_images_needed"] == 25
    assert "25 more good images" in report.summary()
    assert (m.extra["false_reject_target"], m.extra["hold_share_target"]) == (0.01, 0.05)


def test_unreadable_files_are_skipped_and_named(taught: tuple[TeachReport, list, list]) -> None:
    report, _, _ = taught
    reasons = {path.name: reason for path, reason in report.skipped}
    assert set(reasons) == {"broken.png", "empty.png"}
    assert "cannot be read (corrupt or not an image)" in reasons["broken.png"] and reasons["empty.png"] == "is empty"
    summary = report.summary()
    assert "20 good images" in summary and "broken.png" in summary and report.sha256 in summary


def test_progress_is_reported_often_and_ends_complete(taught: tuple[TeachReport, list, list]) -> None:
    _, calls, _ = taught
    fractions = [f for _, f in calls]
    assert len(calls) > 20
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {text.split()[0] for text, _ in calls} >= {"Reading", "Extracting", "Choosing", "Scoring", "Model"}


def test_defective_part_scores_above_good_parts_and_threshold(taught: tuple[TeachReport, list, list]) -> None:
    report, _, _ = taught
    inspector = Inspector(ModelPackage.load(report.model_dir), provider="cpu", threads=1)

    def score(img: np.ndarray) -> float:
        return inspector.inspect(img).score

    good = [score(part_image(seed)) for seed in range(100, 105)]  # parts never seen at teach time
    bad = [score(part_image(seed, defect=True)) for seed in range(100, 105)]
    assert max(good) < min(bad)
    assert min(bad) > report.threshold + report.hold_above


def test_same_images_and_seed_give_the_same_model(taught: tuple[TeachReport, list, list], tmp_path: Path) -> None:
    report, _, paths = taught
    again = teach(list(reversed(paths)), tmp_path / "disc", name="disc", input_size=SIZE, seed=1)
    assert again.sha256 == report.sha256
    first = json.loads((report.model_dir / "manifest.json").read_text())
    assert json.loads((again.model_dir / "manifest.json").read_text())["training"]["data_sha256"] == \
        first["training"]["data_sha256"]


def test_too_few_images_are_refused_in_plain_words(tmp_path: Path) -> None:
    paths = write_parts(tmp_path / "good", range(9))
    with pytest.raises(ModelError, match="only 9 usable good image") as err:
        teach(paths, tmp_path / "models" / "few", name="few", input_size=SIZE)
    assert "at least 10" in err.value.todo
    assert not (tmp_path / "models" / "few").exists()


def test_cancel_leaves_no_folder_behind(tmp_path: Path) -> None:
    paths = write_parts(tmp_path / "good", range(12))
    cancel = threading.Event()

    def progress(text: str, fraction: float) -> None:
        if text.startswith("Choosing"):
            cancel.set()  # the user presses Cancel while the memory bank is being chosen

    with pytest.raises(TeachCancelled, match="cancelled"):
        teach(paths, tmp_path / "models" / "stopped", name="stopped", input_size=SIZE, progress=progress,
              cancel=cancel)
    assert list((tmp_path / "models").iterdir()) == []


def test_existing_model_folder_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "models" / "disc").mkdir(parents=True)
    with pytest.raises(ModelError, match="already exists"):
        teach(write_parts(tmp_path / "good", range(10)), tmp_path / "models" / "disc", name="disc", input_size=SIZE)


@pytest.mark.parametrize("kwargs, words", [({"input_size": 100}, "multiple of 16"),
                                           ({"coreset_ratio": 0.0}, "memory-bank share"),
                                           ({"holdout": 1.0}, "held-back share"),
                                           ({"false_reject": 0.0}, "false-reject target"),
                                           ({"hold_share": 0.6}, "hold share"),
                                           ({"name": " "}, "no name"),
                                           ({"backbone": "int4"}, "backbone precision")])
def test_bad_settings_are_refused_before_any_work(tmp_path: Path, kwargs: dict, words: str) -> None:
    args = {"name": "disc", "input_size": SIZE} | kwargs
    with pytest.raises(ModelError, match=words):
        teach([], tmp_path / "models" / "disc", **args)
