#!/usr/bin/env bash
# Build the one-folder station bundle dist/hmi/ (executable dist/hmi/hmi) with PyInstaller.
# Usage: installer/build.sh [PYTHON]   (default: .venv/bin/python; needs the `build` extra installed)
# Prints the build time and the bundle size.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
  echo "build.sh: PyInstaller is not installed — run: $PY -m pip install -e '.[build]'" >&2
  exit 2
fi
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller installer/hmi.spec
end=$(date +%s)
echo "build.sh: bundle dist/hmi built in $((end - start)) s, size $(du -sh dist/hmi | cut -f1)"
