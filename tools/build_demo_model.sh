#!/usr/bin/env bash
# Rebuild models/demo-part from the demo generator's good parts and pin it in the demo recipe.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -c "from pathlib import Path; from hmi.demo.dataset import write_dataset; write_dataset(Path('$work/train'), good=200, defective=0, seed=1)"
rm -rf models/demo-part
.venv/bin/hmi teach --data-dir "$work/data" --good "$work/train/good" --out models/demo-part --name demo-part --input-size 384
.venv/bin/python tools/pin_demo_recipe.py
