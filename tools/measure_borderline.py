"""Score the demo's faint rub marks with the shipped demo model; print the OK/HOLD/NG shares.

    .venv/bin/python tools/measure_borderline.py [--parts 40] [--line-seed N]

Re-run after rebuilding models/demo-part (tools/build_demo_model.sh): the mark's darkness in
hmi/demo/faint.py is tuned so that most rubs land in the model's HOLD band.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from hmi.config.paths import shipped_models_dir
from hmi.decision.policy import ThresholdSet, decide
from hmi.demo.faint import render_borderline
from hmi.demo.stream import DEMO_LINE_SEED, borderline_seed
from hmi.inference.inspector import Inspector
from hmi.inference.package import ModelPackage


def main() -> int:
    """Render, judge and count; the part seeds are the ones the demo camera's stream uses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=40)
    parser.add_argument("--line-seed", type=int, default=DEMO_LINE_SEED, help="seed of the demo line's plan")
    args = parser.parse_args()
    package = ModelPackage.load(shipped_models_dir() / "demo-part")
    t = package.manifest.thresholds
    thresholds = ThresholdSet(0, t.score, t.hold_below, t.hold_above, t.min_defect_area_px)
    inspector = Inspector(package, provider="cpu", threads=2)
    inspector.warm_up(1)
    scores, verdicts = [], []
    for k in range(args.parts):
        part = render_borderline(borderline_seed(args.line_seed, k))
        inspection = inspector.inspect(part.image)
        scores.append(inspection.score)
        verdicts.append(decide(inspection, thresholds)[0].name)
    n = len(verdicts)
    counts = {v: verdicts.count(v) for v in ("OK", "HOLD", "NG")}
    shares = "  ".join(f"{v} {c}/{n} ({100 * c / n:.0f} %)" for v, c in counts.items())
    p10, p50, p90 = np.percentile(scores, [10, 50, 90])
    print(f"{n} faint rub parts: {shares}")
    print(f"scores p10 {p10:.2f}  median {p50:.2f}  p90 {p90:.2f};  HOLD band {thresholds.hold_low:.3f} to "
          f"{thresholds.ng_from:.3f} (NG from there)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
