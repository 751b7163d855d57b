"""Does a small supervised refinement over anomaly-map statistics beat the station's threshold suggestion?

Usage:
    .venv/bin/python tools/refinement_experiment.py --work /tmp/refine [--teach] [--datasets ../shared/datasets]
        [--splits 50] [--defects-in-a 20] [--C 1.0] [--json /tmp/refine/results.json]

Step 1 (with --teach, or by hand; skipped per set where its outputs already exist) teaches one model per
real development set with the station's own commands and writes the anomaly maps of every test image,
good and defective images inspected separately into their own CSVs and map folders:

    hmi teach --good SET/train/good --out WORK/models/NAME --data-dir WORK/data
    hmi inspect SET/test/good --model WORK/models/NAME --csv WORK/NAME_good.csv --maps WORK/maps/NAME/good \
        --data-dir WORK/data
    hmi inspect SET/test/defect --model WORK/models/NAME --csv WORK/NAME_defect.csv \
        --maps WORK/maps/NAME/defect --data-dir WORK/data

Step 2 turns each map into a few features normalised by the model's own default threshold (cached in
WORK/features_NAME.npz). Step 3 repeats, per set, random stratified splits of the labelled test parts
into A (labelled on the station) and B (held out). Method T picks the threshold on the image score that
minimises 1 x false rejects + 20 x escapes on A; method R fits an L2-regularised logistic regression
(NumPy, Newton steps, features standardised on A, fixed C) on A and picks the cost-minimising threshold
on its output on A. Both are scored on B: cost, false rejects, escapes, AUROC of their ranking. Two
regimes: A holds half of every class ("half"), or half of the good parts and exactly --defects-in-a
defective parts ("20 defects", only where the set has at least twice that many defects).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parent.parent
SETS = {"bottle": "bottle", "casting": "casting", "metal_plate": "metal_plate", "weld": "weld",
        "fabric02": "fabric/fabric02", "fabric03": "fabric/fabric03"}
FALSE_REJECT_COST, ESCAPE_COST = 1.0, 20.0
FEATURES = ["max", "top0.1%", "top1%", "mean", "std", "log_area_region", "log_area_hold", "log_area_thr",
            "log1p_regions"]


def hmi(*args: str) -> None:
    """Run one `hmi` command with the repository's interpreter, echoing it; exit on failure."""
    cmd = [sys.executable, "-m", "hmi", *args]
    print("$ hmi " + " ".join(args), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"hmi {args[0]} failed:\n{done.stderr}")
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "", flush=True)


def teach_and_inspect(name: str, folder: Path, work: Path) -> None:
    """Step 1 for one set: teach on train/good, inspect test/good and test/defect writing maps; skip done parts."""
    model = work / "models" / name
    if not (model / "manifest.json").is_file():
        hmi("teach", "--good", str(folder / "train" / "good"), "--out", str(model), "--data-dir", str(work / "data"))
    for kind in ("good", "defect"):
        out = work / f"{name}_{kind}.csv"
        if not out.is_file():
            hmi("inspect", str(folder / "test" / kind), "--model", str(model), "--csv", str(out),
                "--maps", str(work / "maps" / name / kind), "--data-dir", str(work / "data"))


def map_features(m: np.ndarray, score: float, thr: float, region_thr: float, hold_low: float) -> list[float]:
    """The feature vector of one anomaly map; level features divided by the model's default threshold."""
    flat = m.ravel().astype(np.float64)
    n = flat.size
    k01, k1 = max(1, n // 1000), max(1, n // 100)
    top = np.partition(flat, n - k1)[n - k1:]
    top01 = np.partition(top, k1 - k01)[k1 - k01:]
    regions = ndimage.label(m > region_thr)[1]
    return [score / thr, top01.mean() / thr, top.mean() / thr, flat.mean() / thr, flat.std() / thr,
            np.log10(np.mean(flat > region_thr) + 1e-5), np.log10(np.mean(flat > hold_low) + 1e-5),
            np.log10(np.mean(flat > thr) + 1e-5), np.log1p(regions)]


def load_set(name: str, work: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(image scores, feature matrix, labels, manifest) of one set, computing and caching the features once."""
    manifest = json.loads((work / "models" / name / "manifest.json").read_text(encoding="utf-8"))
    cache = work / f"features_{name}.npz"
    if cache.is_file():
        z = np.load(cache)
        return z["score"], z["x"], z["y"], manifest
    t = manifest["thresholds"]
    thr, region_thr, hold_low = t["score"], manifest["region_threshold"], t["score"] - t["hold_below"]
    scores, rows, labels = [], [], []
    for label, kind in ((0, "good"), (1, "defect")):
        with (work / f"{name}_{kind}.csv").open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if not row["score"]:
                    sys.exit(f"{name}: {row['path']} was not inspected ({row['reason']})")
                score = float(row["score"])
                m = np.load(work / "maps" / name / kind / (Path(row["path"]).stem + ".npy"))
                scores.append(score)
                rows.append(map_features(m, score, thr, region_thr, hold_low))
                labels.append(label)
    score, x, y = np.array(scores), np.array(rows), np.array(labels)
    np.savez(cache, score=score, x=x, y=y)
    return score, x, y, manifest


def auroc(s: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve of ranking s against labels y (ties count one half)."""
    pos, neg = s[y == 1], s[y == 0]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def outcome(s: np.ndarray, y: np.ndarray, t: float) -> tuple[float, int, int]:
    """(cost, false rejects, escapes) of rejecting parts scoring t or more."""
    fr = int(np.count_nonzero((y == 0) & (s >= t)))
    esc = int(np.count_nonzero((y == 1) & (s < t)))
    return FALSE_REJECT_COST * fr + ESCAPE_COST * esc, fr, esc


def best_threshold(s: np.ndarray, y: np.ndarray) -> float:
    """The cost-minimising reject-at-or-above threshold on (s, y): one midpoint per gap, ties to the middle one."""
    d = np.unique(s)
    step = float(np.diff(d).mean()) if d.size > 1 else 1.0
    cand = np.concatenate(([d[0] - step], (d[:-1] + d[1:]) / 2.0, [d[-1] + step]))
    good, bad = np.sort(s[y == 0]), np.sort(s[y == 1])
    fr = good.size - np.searchsorted(good, cand, side="left")
    esc = np.searchsorted(bad, cand, side="left")
    cost = FALSE_REJECT_COST * fr + ESCAPE_COST * esc
    tied = np.flatnonzero(cost == cost.min())
    return float(cand[tied[tied.size // 2]])


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, scale, weights incl. intercept) of L2 logistic regression, 0.5|w|^2 + C * log-loss, by Newton steps."""
    mu, sd = x.mean(0), x.std(0)
    sd[sd == 0] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    w = np.zeros(z.shape[1])
    reg = np.eye(z.shape[1]) / c
    reg[0, 0] = 0.0  # the intercept is not penalised
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -40, 40)))
        grad = z.T @ (p - y) + reg @ w
        hess = (z * (p * (1 - p))[:, None]).T @ z + reg + 1e-9 * np.eye(z.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return mu, sd, w


def logit(x: np.ndarray, model: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """The classifier's output (log-odds; same ranking and thresholds as the probability) for rows of x."""
    mu, sd, w = model
    return w[0] + ((x - mu) / sd) @ w[1:]


def split(y: np.ndarray, rng: np.random.Generator, n_defects_a: int | None) -> np.ndarray:
    """Boolean mask of part A: half the good parts, and half the defects or exactly n_defects_a of them."""
    a = np.zeros(y.size, bool)
    for label in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == label))
        n = idx.size // 2 if (label == 0 or n_defects_a is None) else n_defects_a
        a[idx[:n]] = True
    return a


def run_set(score: np.ndarray, x: np.ndarray, y: np.ndarray, splits: int, n_defects_a: int | None,
            c: float) -> dict:
    """Both methods over `splits` seeded splits of one set: per-split B outcomes and their means."""
    rec = {k: [] for k in ("T_cost", "R_cost", "T_fr", "R_fr", "T_esc", "R_esc", "T_auc", "R_auc", "nB")}
    for seed in range(splits):
        a = split(y, np.random.default_rng(seed), n_defects_a)
        b = ~a
        t_cost, t_fr, t_esc = outcome(score[b], y[b], best_threshold(score[a], y[a]))
        model = fit_logistic(x[a], y[a].astype(np.float64), c)
        out_a, out_b = logit(x[a], model), logit(x[b], model)
        r_cost, r_fr, r_esc = outcome(out_b, y[b], best_threshold(out_a, y[a]))
        for k, v in (("T_cost", t_cost), ("R_cost", r_cost), ("T_fr", t_fr), ("R_fr", r_fr), ("T_esc", t_esc),
                     ("R_esc", r_esc), ("T_auc", auroc(score[b], y[b])), ("R_auc", auroc(out_b, y[b])),
                     ("nB", int(b.sum()))):
            rec[k].append(v)
    arr = {k: np.array(v, np.float64) for k, v in rec.items()}
    diff = arr["R_cost"] - arr["T_cost"]
    summary = {k: float(v.mean()) for k, v in arr.items()}
    summary.update(R_wins=float(np.mean(diff < 0)), T_wins=float(np.mean(diff > 0)), diff_mean=float(diff.mean()),
                   diff_sd=float(diff.std(ddof=1)), n_defects_a=int(split(y, np.random.default_rng(0),
                                                                           n_defects_a)[y == 1].sum()))
    return summary


def table(results: dict, regime: str) -> str:
    """One Markdown table of a regime's per-set means and the mean over sets."""
    head = ("| set | defects in A | parts in B | T cost | R cost | R−T (sd over splits) | T FR / esc | R FR / esc | "
            "T AUROC | R AUROC | R beats T | T beats R |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines, keep = [], []
    for name, s in results[regime].items():
        if s is None:
            lines.append(f"| {name} | too few defects | | | | | | | | | | |")
            continue
        keep.append(s)
        lines.append(f"| {name} | {s['n_defects_a']} | {s['nB']:.0f} | {s['T_cost']:.1f} | {s['R_cost']:.1f} | "
                     f"{s['diff_mean']:+.1f} ({s['diff_sd']:.1f}) | {s['T_fr']:.1f} / {s['T_esc']:.2f} | "
                     f"{s['R_fr']:.1f} / {s['R_esc']:.2f} | {s['T_auc']:.3f} | {s['R_auc']:.3f} | "
                     f"{s['R_wins']:.0%} | {s['T_wins']:.0%} |")
    if keep:
        m = {k: float(np.mean([s[k] for s in keep])) for k in keep[0]}
        lines.append(f"| **mean over {len(keep)} sets** | | | {m['T_cost']:.1f} | {m['R_cost']:.1f} | "
                     f"{m['diff_mean']:+.1f} | {m['T_fr']:.1f} / {m['T_esc']:.2f} | {m['R_fr']:.1f} / "
                     f"{m['R_esc']:.2f} | {m['T_auc']:.3f} | {m['R_auc']:.3f} | {m['R_wins']:.0%} | "
                     f"{m['T_wins']:.0%} |")
    return head + "\n".join(lines)


def main() -> int:
    """Optionally teach and inspect, then run both regimes on every set and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for models, CSVs, maps and features")
    ap.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    ap.add_argument("--teach", action="store_true", help="run step 1 (teach, inspect) where its outputs are missing")
    ap.add_argument("--splits", type=int, default=50)
    ap.add_argument("--defects-in-a", type=int, default=20)
    ap.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    ap.add_argument("--json", type=Path, default=None, help="also write the per-set means here")
    args = ap.parse_args()
    results: dict = {"half": {}, f"{args.defects_in_a} defects": {}}
    for name, rel in SETS.items():
        if args.teach:
            teach_and_inspect(name, args.datasets / rel, args.work)
        score, x, y, _ = load_set(name, args.work)
        print(f"{name}: {int((y == 0).sum())} good, {int((y == 1).sum())} defective", flush=True)
        results["half"][name] = run_set(score, x, y, args.splits, None, args.C)
        enough = (y == 1).sum() >= 2 * args.defects_in_a
        results[f"{args.defects_in_a} defects"][name] = (
            run_set(score, x, y, args.splits, args.defects_in_a, args.C) if enough else None)
    print(f"\nCost = {FALSE_REJECT_COST:g} x false rejects + {ESCAPE_COST:g} x escapes on B, mean of {args.splits} "
          f"splits; logistic regression C = {args.C:g} on features {', '.join(FEATURES)}.")
    for regime in results:
        print(f"\n### A = half of the good parts and {'half of the defects' if regime == 'half' else regime}\n")
        print(table(results, regime))
    if args.json:
        args.json.write_text(json.dumps({"C": args.C, "splits": args.splits, "results": results}, indent=1),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
