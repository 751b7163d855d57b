"""Evaluation figures for the closing note: demo model on a held-out set, and taught models on real textures.

Usage: .venv/bin/python tools/evaluate_models.py [--work DIR]

Runs the station's own commands (`hmi inspect`, `hmi teach`, `hmi evaluate`) so the figures are what an
integrator would get. The texture sets are real photographs shipped inside scikit-image (brick, grass,
gravel) with synthetic defects (hmi.demo.textures).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HMI = [sys.executable, "-m", "hmi"]


def sh(*args: str) -> str:
    """Run an hmi command, echo it, and return its output."""
    print("$ hmi " + " ".join(args), flush=True)
    out = subprocess.run([*HMI, *args], capture_output=True, text=True, check=True).stdout.strip()
    print(out.splitlines()[-1] if out else "", flush=True)
    return out


def main() -> int:
    """Write the data sets, run the commands, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="hmi-eval-"))
    data = work / "data"
    from hmi.demo.dataset import write_dataset
    from hmi.demo.textures import TEXTURES, write_texture_dataset

    demo = write_dataset(work / "demo-test", good=200, defective=200, seed=202)
    sh("inspect", str(demo / "good"), str(demo / "defect"), "--model", "models/demo-part", "--csv",
       str(work / "demo.csv"), "--data-dir", str(data))
    results = {"demo (held-out, 200 good + 200 defective)": sh("evaluate", "--csv", str(work / "demo.csv"),
                                                                "--truth", str(demo / "ground_truth.csv"))}
    for texture in TEXTURES:
        ds = write_texture_dataset(work / texture, texture, good_train=200, good_test=100, defective_test=100, seed=7)
        # Texture runs off every edge of these crops: also teach with the outermost 2 patches unjudged.
        for border in (0, 2):
            tag = f"{texture}-b{border}"
            t0 = time.monotonic()
            sh("teach", "--good", str(ds / "train" / "good"), "--out", str(work / f"model-{tag}"),
               "--ignore-border", str(border), "--data-dir", str(data))
            sh("inspect", str(ds / "test" / "good"), str(ds / "test" / "defect"), "--model", str(work / f"model-{tag}"), "--csv", str(work / f"{tag}.csv"),
               "--data-dir", str(data))
            results[f"texture {texture} (skimage photo, 200 good taught, --ignore-border {border})"] = sh(
                "evaluate", "--csv", str(work / f"{tag}.csv"), "--truth", str(ds / "ground_truth.csv"))
            print(f"  ({tag}: teach + inspect {time.monotonic() - t0:.0f} s)")
    print("\nSUMMARY")
    for name, text in results.items():
        print(f"- {name}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
