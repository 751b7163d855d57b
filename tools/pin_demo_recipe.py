"""Write the demo model's SHA-256 and default thresholds into resources/recipes/demo.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w

from hmi.inference.package import ModelPackage

root = Path(__file__).resolve().parents[1]
package = ModelPackage.load(root / "models" / "demo-part")
recipe_file = root / "resources" / "recipes" / "demo.toml"
recipe = tomllib.loads(recipe_file.read_text(encoding="utf-8"))
t = package.manifest.thresholds
recipe["model"] = {"name": package.manifest.name, "sha256": package.sha256}
recipe["thresholds"] = {"version": 1, "score": round(t.score, 4), "hold_below": round(t.hold_below, 4),
                        "hold_above": round(t.hold_above, 4), "min_defect_area_px": t.min_defect_area_px}
recipe_file.write_text(tomli_w.dumps(recipe), encoding="utf-8")
print(f"{recipe_file}: model {package.manifest.name} {package.sha256[:12]}…, threshold {t.score:.3f}")
