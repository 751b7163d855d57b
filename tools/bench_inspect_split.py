"""Where a judged 5 MP part's time goes: ONNX Runtime against the rest of `Inspector.inspect` (prepare, stitch, map, regions).

Usage: .venv/bin/python tools/bench_inspect_split.py [--teach-size 512] [--parts 150]

Judges the bench's demo parts rendered at 2448x2048 with the bench's line model taught at --teach-size
(hmi.bench.line_model, taught once and cached), and prints the mean time a part, the share inside the model's
runs, and how many parts had defect regions. Run it for two versions (e.g. one from a git worktree on
PYTHONPATH) one after the other to compare.
"""

from __future__ import annotations

import argparse
import time

from hmi.bench.line_model import taught_model
from hmi.bench.pipeline import LINE_TEACH_IMAGES, bench_cache, hires_demo_frames
from hmi.inference.geometry import TiledSession
from hmi.inference.inspector import Inspector, read_image
from hmi.inference.package import ModelPackage


def main() -> None:
    """Print the split for one teach size."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teach-size", type=int, default=512)
    ap.add_argument("--parts", type=int, default=150)
    args = ap.parse_args()
    frames_dir = hires_demo_frames(2448, 2048)
    good = hires_demo_frames(2448, 2048, count=LINE_TEACH_IMAGES, good_only=True)
    inspector = Inspector(ModelPackage.load(taught_model(good, args.teach_size, bench_cache())), tile=True)
    images = [read_image(p) for p in sorted(frames_dir.glob("*.png"))]
    in_model = [0.0]
    run = TiledSession._run

    def timed_run(self, x):
        t0 = time.perf_counter()
        try:
            return run(self, x)
        finally:
            in_model[0] += time.perf_counter() - t0

    TiledSession._run = timed_run
    for i in range(10):  # settle caches and thread pools
        inspector.inspect(images[i % len(images)])
    in_model[0] = 0.0
    hot = 0
    t0 = time.perf_counter()
    for i in range(args.parts):
        hot += bool(inspector.inspect(images[i % len(images)]).regions)
    total = time.perf_counter() - t0
    n = args.parts
    print(f"teach size {args.teach_size}: {total / n * 1000:.1f} ms a part, in the model {in_model[0] / n * 1000:.1f} ms "
          f"({100 * in_model[0] / total:.1f} %), the rest {(total - in_model[0]) / n * 1000:.1f} ms; "
          f"parts with regions {hot} of {n}")


if __name__ == "__main__":
    main()
