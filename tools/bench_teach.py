"""Time `hmi teach` on 400 good demo images of 300x300 (the issue's target: under 2 minutes on 2 cores), or on
the first N images of a folder (teaching must scale with the images: time per image on 800 within 1.5x of 400).

Usage: .venv/bin/python tools/bench_teach.py [--images 400] [--size 300]
       .venv/bin/python tools/bench_teach.py --folder ../shared/datasets/casting/train/good --images 400
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def main() -> int:
    """Generate (or pick) the images, run the teach command, print wall time, time per image and the summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--size", type=int, default=300, help="side of the generated demo images")
    ap.add_argument("--folder", type=Path, default=None, help="teach on the first --images files of this folder "
                                                               "(sorted by name) instead of generated demo images")
    ap.add_argument("--input-size", type=int, default=256, help="model input size passed to hmi teach")
    args = ap.parse_args()
    from hmi.demo.dataset import write_dataset

    with tempfile.TemporaryDirectory(prefix="hmi-teach-") as tmp:
        work = Path(tmp)
        good = work / "set" / "good"
        if args.folder is None:
            write_dataset(work / "set", good=args.images, defective=0, seed=5, size=args.size)
            what = f"{args.images} images of {args.size}x{args.size}"
        else:
            files = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:args.images]
            good.mkdir(parents=True)
            for f in files:
                (good / f.name).symlink_to(f.resolve())
            what = f"{len(files)} images of {args.folder}"
        cmd = [sys.executable, "-m", "hmi", "teach", "--good", str(good), "--out",
               str(work / "model"), "--data-dir", str(work / "data"), "--input-size", str(args.input_size)]
        print("$ hmi " + " ".join(cmd[3:]), flush=True)
        t0 = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        wall = time.monotonic() - t0
        count = len(list(good.iterdir()))
    print(out.strip())
    print(f"teach_wall_s {wall:.1f}  per_image_ms {1000 * wall / max(count, 1):.1f}  ({what}, model input "
          f"{args.input_size}; target < 120 s for 400 of 300x300)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
