"""The `hmi thresholds suggest` command: the threshold set the operators' verdicts argue for, read from the records."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from hmi.cli.options import command, overrides
from hmi.core.errors import StationError


def register(sub: argparse._SubParsersAction) -> None:
    """Register the `thresholds` sub-command and its `suggest` action."""
    thresholds = command(sub, "thresholds", None, help="threshold sets learnt from the operators' verdicts")
    thresholds_sub = thresholds.add_subparsers(dest="thresholds_command", required=True)
    suggest = command(
        thresholds_sub, "suggest", suggest_command, help="propose the threshold set of least cost on the parts people judged (read-only)",
        description="Reads the recipe's recent parts from the records (read-only) and proposes the threshold set "
                    "that costs least on the parts people judged — reviewed HOLD parts, overruled NG parts and "
                    "defects found downstream — at the recipe's cost of a false reject against an escape. Nothing "
                    "is changed: applying it needs a technician's signature on the thresholds screen.")
    suggest.add_argument("--recipe", default="", help="recipe name (default: the recipe in force on this station)")
    suggest.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the suggestion as JSON")


def suggest_command(args: argparse.Namespace, data_dir: Path) -> int:
    """Carry out `thresholds suggest`; prints the proposal beside the set in force."""
    from hmi.config.loader import load_recipe, load_station
    from hmi.inference.loading import find_model, thresholds_of
    from hmi.inference.package import ModelPackage
    from hmi.store.database import database_path
    from hmi.services.tuning.score_history import load_history
    from hmi.services.tuning.suggest import suggest_thresholds

    db = database_path(data_dir)
    if not db.exists():
        raise StationError(f"there is no records database in {data_dir}",
                           "give the station's data folder with --data-dir")
    cfg = load_station(data_dir, overrides(args))
    recipe = load_recipe(data_dir, args.recipe or cfg.station.recipe)
    # Scores of another model are on another scale: only the parts of the recipe's model count.
    sha = recipe.model.sha256 or ModelPackage.load(find_model(recipe.model.name, data_dir)).sha256
    history = load_history(db, recipe.name, model_sha256=sha)
    suggestion = suggest_thresholds(history, recipe.targets, thresholds_of(recipe))
    print(suggestion_text(suggestion, recipe.name, recipe.model.name, sha))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"recipe": recipe.name, "model": recipe.model.name, "model_sha256": sha,
                                         **suggestion.as_dict()}, indent=2), encoding="utf-8")
        print(f"JSON: written to {args.json}")
    return 0


def suggestion_text(s, recipe: str, model: str, sha: str) -> str:
    """The suggestion as the terminal shows it: the two sets side by side, their figures, and the explanation."""
    now, new = s.in_force, s.proposed
    before, after = s.before, s.after
    cmp_now, cmp_new = s.comparison.in_force, s.comparison.proposed

    def band(t) -> str:
        return f"{t.hold_low:.4f} – {t.ng_from:.4f}" if t.ng_from > t.hold_low else "none"

    def row(name: str, a: object, b: object) -> str:
        return f"  {name:<26} {str(a):>18}   {str(b):>18}"

    def share(count: int, whole: int) -> str:
        return f"{count} / {whole}"

    lines = [f"Threshold suggestion for recipe {recipe} (model {model} {sha[:12]}), from the last {s.parts} "
             f"scored parts in the records",
             f"  Judged by people: {s.judged_good} good, {s.judged_defective} defective"
             + (f" ({s.downstream} found downstream)" if s.downstream else "")
             + f"; with the verdicts nobody challenged: {after.good} good, {after.defective} defective",
             f"  A false reject costs {s.targets.false_reject_cost:g}, an escape {s.targets.escape_cost:g} "
             "(the recipe's [targets])",
             "",
             row("", f"in force (v{now.version})", "proposed"),
             row("threshold", f"{now.score:.4f}", f"{new.score:.4f}"),
             row("HOLD band", band(now), band(new)),
             row("NG from", f"{now.ng_from:.4f}", f"{new.ng_from:.4f}"),
             row("min. defect area", f"{now.min_defect_area_px} px", f"{new.min_defect_area_px} px"),
             "On the good and defective parts (judged by people, or verdicts nobody challenged):",
             row("false rejects", share(before.false_rejects, before.good), share(after.false_rejects, after.good)),
             row("escapes", share(before.escapes, before.defective), share(after.escapes, after.defective)),
             row("good parts held", share(before.good_held, before.good), share(after.good_held, after.good)),
             row("cost", f"{before.cost:g}", f"{after.cost:g}"),
             f"On all {s.parts} stored parts:",
             row("OK / HOLD / NG", f"{cmp_now.ok} / {cmp_now.hold} / {cmp_now.ng}",
                 f"{cmp_new.ok} / {cmp_new.hold} / {cmp_new.ng}"),
             row("escapes (known defective)", share(cmp_now.escapes, cmp_now.known_defective),
                 share(cmp_new.escapes, cmp_new.known_defective)),
             "",
             textwrap.fill(s.explanation, width=100),
             "",
             ("Nothing was changed. Applying the proposed set needs a technician's signature on the\n"
              "thresholds screen (Suggest, then Apply…)." if s.changes_anything else
              "Nothing was changed, and nothing needs to be.")]
    return "\n".join(lines)
