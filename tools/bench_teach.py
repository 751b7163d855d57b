"""Time `hmi teach` on 400 good demo images of 300x300 (the issue's target: under 2 minutes on 2 cores).

Usage: .venv/bin/python tools/bench_teach.py [--images 400] [--size 300]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    """Generate the images, run the teach command, print wall time and the command's summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--size", type=int, default=300)
    ap.add_argument("--input-size", type=int, default=256, help="model input size passed to hmi teach")
    args = ap.parse_args()
    from hmi.demo.dataset import write_dataset

    with tempfile.TemporaryDirectory(prefix="hmi-teach-") as tmp:
        work = Path(tmp)
        write_dataset(work / "set", good=args.images, defective=0, seed=5, size=args.size)
        cmd = [sys.executable, "-m", "hmi", "teach", "--good", str(work / "set" / "good"), "--out",
               str(work / "model"), "--data-dir", str(work / "data"), "--input-size", str(args.input_size)]
        print("$ hmi " + " ".join(cmd[3:]), flush=True)
        t0 = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        wall = time.monotonic() - t0
    print(out.strip())
    print(f"teach_wall_s {wall:.1f}  ({args.images} images of {args.size}x{args.size}, model input "
          f"{args.input_size}; target < 120 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
