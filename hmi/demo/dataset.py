"""Evaluation data sets and the shipped demo frames, written from the demo product."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from hmi.config.paths import resources_dir
from hmi.core.errors import ImageError
from hmi.demo.product import DEFECT_TYPES, render_part

CSV_COLUMNS = ("file", "label", "defect_type")
DEMO_FRAME_COUNT = 48
DEMO_FRAME_SIZE = 384

# Demo frame index -> (defect, severity); severity None = drawn from the seed. Two are borderline subtle.
_DEMO_DEFECTS: dict[int, tuple[str, float | None]] = {
    5: ("scratch", 0.8),
    12: ("dent", 0.75),
    19: ("crack", 0.9),
    26: ("contamination", 0.7),
    33: ("missing_material", 0.85),
    38: ("scratch", 0.05),
    44: ("contamination", 0.0),
}
_DEMO_SEED = 7


@dataclass(frozen=True)
class GroundTruthRow:
    """One line of ground_truth.csv: the image file (relative to the data set), good|defect, defect type."""

    file: str
    label: str
    defect_type: str


def demo_frames_dir() -> Path:
    """Folder of the shipped demo frames the emulated camera replays in a loop."""
    return resources_dir() / "demo" / "frames"


def part_seeds(seed: int, count: int) -> list[int]:
    """`count` distinct, reproducible part seeds derived from a data-set seed."""
    state = np.random.SeedSequence([seed, 0xDE40]).generate_state(count, np.uint32)
    return [int(s) for s in state]


def write_dataset(out_dir: Path, good: int, defective: int, seed: int = 0, size: int = 384) -> Path:
    """Write a labelled demo-product data set: good/, defect/, masks/ and ground_truth.csv.

    Files are numbered across the whole set (good first, then defective, defect types in turn),
    so every image name is unique and masks/<name>.png belongs to the image of that name
    (an all-zero mask for a good part). Returns `out_dir`.
    """
    if good < 0 or defective < 0:
        raise ValueError("image counts must not be negative")
    out_dir = Path(out_dir)
    for sub in ("good", "defect", "masks"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    seeds = part_seeds(seed, good + defective)
    rows: list[GroundTruthRow] = []
    for i, part_seed in enumerate(seeds):
        defect = None if i < good else DEFECT_TYPES[(i - good) % len(DEFECT_TYPES)]
        demo = render_part(part_seed, defect, size)
        name = f"{i:05d}.png"
        folder = "good" if defect is None else "defect"
        write_png(out_dir / folder / name, demo.image)
        write_png(out_dir / "masks" / name, demo.mask, mask=True)
        rows.append(GroundTruthRow(f"{folder}/{name}", "good" if defect is None else "defect", defect or ""))
    write_ground_truth(out_dir / "ground_truth.csv", rows)
    return out_dir


def write_demo_frames(out_dir: Path | None = None) -> Path:
    """Write the 48 demo frames (384x384 Mono8, 1 in 7 defective, every type and two subtle ones).

    Defaults to the shipped folder, resources/demo/frames. Returns the folder. The ground truth goes
    beside the folder (`demo_truth_file`), not into it: the pylon emulator replays every file it finds.
    """
    out_dir = Path(out_dir) if out_dir is not None else demo_frames_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("frame_*.png"):
        old.unlink()
    rows: list[GroundTruthRow] = []
    for i, part_seed in enumerate(part_seeds(_DEMO_SEED, DEMO_FRAME_COUNT)):
        defect, severity = _DEMO_DEFECTS.get(i, (None, None))
        demo = render_part(part_seed, defect, DEMO_FRAME_SIZE, severity=severity)
        name = f"frame_{i:03d}.png"
        write_png(out_dir / name, demo.image)
        rows.append(GroundTruthRow(f"{out_dir.name}/{name}", "good" if defect is None else "defect", defect or ""))
    write_ground_truth(demo_truth_file(out_dir), rows)
    return out_dir


def demo_truth_file(frames_dir: Path | None = None) -> Path:
    """ground_truth.csv of the demo frames; it lies beside the frames folder, names relative to its own folder."""
    frames_dir = Path(frames_dir) if frames_dir is not None else demo_frames_dir()
    return frames_dir.parent / "ground_truth.csv"


def read_ground_truth(path: Path) -> list[GroundTruthRow]:
    """Rows of a ground_truth.csv written by this module."""
    with Path(path).open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise ImageError(
                f"{path} is not a ground-truth file (columns {reader.fieldnames})",
                f"expected the columns {', '.join(CSV_COLUMNS)}; regenerate it with hmi.demo.dataset",
            )
        return [GroundTruthRow(r["file"], r["label"], r["defect_type"]) for r in reader]


def write_ground_truth(path: Path, rows: list[GroundTruthRow]) -> None:
    """Write ground_truth.csv with the columns file,label,defect_type (defect_type empty for good parts)."""
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows((r.file, r.label, r.defect_type) for r in rows)


def write_png(path: Path, image: np.ndarray, mask: bool = False) -> None:
    """Write a Mono8 frame (or a 0/255 mask) as a compact PNG; raise ImageError if the disk refuses."""
    # Sensor noise defeats zlib's string matching: Huffman-only coding is smaller and faster for
    # frames, while masks are long runs that zlib's default strategy packs best.
    strategy = cv2.IMWRITE_PNG_STRATEGY_DEFAULT if mask else cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 9, cv2.IMWRITE_PNG_STRATEGY, strategy]):
        raise ImageError(f"could not write the image {path}", "check that the folder exists and the disk is not full")


if __name__ == "__main__":  # regenerate the shipped frames: python -m hmi.demo.dataset
    print(write_demo_frames())
