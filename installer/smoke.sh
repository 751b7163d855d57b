#!/usr/bin/env bash
# Smoke test of the frozen station: run it from its folder with a clean environment.
# Usage: installer/smoke.sh [DIST_DIR]   (default: dist/hmi)
# Checks: --version; first admin created on a fresh data dir (PIN piped on stdin); a headless run of
# 20 parts with the emulated pylon camera and the simulated PLC writes 20 records; an online backup
# passes its integrity check; the log file exists and does not contain the PIN.
set -euo pipefail
DIST="$(cd "${1:-dist/hmi}" && pwd)"
EXE="$DIST/hmi"
[ -x "$EXE" ] || { echo "smoke.sh: no executable at $EXE — run installer/build.sh first" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
data="$tmp/data"
run() { (cd "$DIST" && env -i HOME="$tmp" PATH=/usr/bin:/bin PYLON_CAMEMU=1 "$EXE" "$@"); }
# One value from a SQLite file, read with the system's python3 (not the bundle's).
sql() { /usr/bin/python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$1" "$2"; }
fail() { echo "smoke.sh: FAILED: $*" >&2; exit 1; }
start=$(date +%s)

version="$(run --version)"
echo "smoke: $version"
[[ "$version" == hmi\ * ]] || fail "--version printed '$version'"

pin="731946"
printf '%s\n' "$pin" | run users add admin1 --role admin --data-dir "$data" || fail "users add (first admin)"
run users list --data-dir "$data" | grep -q "admin1 .*admin .*active" || fail "the admin is not listed"

t0=$(date +%s)
run run --headless --max-parts 20 --data-dir "$data" > "$tmp/run.out" 2> "$tmp/run.err" || {
  cat "$tmp/run.err" >&2; fail "headless run"; }
echo "smoke: headless run of 20 parts took $(( $(date +%s) - t0 )) s: $(tail -n 1 "$tmp/run.out")"
parts="$(sql "$data/hmi.db" "SELECT count(*) FROM inspections")"
[ "$parts" = 20 ] || fail "expected 20 records, found $parts"
uninspected="$(sql "$data/hmi.db" "SELECT count(*) FROM inspections WHERE auto_verdict = 'NOT_INSPECTED'")"
[ "$uninspected" = 0 ] || fail "$uninspected parts NOT_INSPECTED: the emulated camera or the model does not work frozen"
echo "smoke: $parts records in $data/hmi.db"

run db check --data-dir "$data" | grep -qx ok || fail "db check"
run db backup "$tmp/backup.db" --data-dir "$data" || fail "db backup"
check="$(sql "$tmp/backup.db" "PRAGMA integrity_check")"
[ "$check" = ok ] || fail "backup integrity: $check"

# Teaching frozen, with the INT8 backbone: ONNX Runtime's quantisation tools are in the bundle.
frames="$(find "$DIST" -type d -path '*resources/demo/frames' | head -n 1)"
[ -n "$frames" ] || fail "no demo frames in the bundle"
run teach --good "$frames" --out "$tmp/taught-int8" --input-size 384 --backbone int8 --data-dir "$data" \
  > "$tmp/teach.out" 2>&1 || { cat "$tmp/teach.out" >&2; fail "teach --backbone int8"; }
grep -q "from the INT8 backbone calibrated on these images" "$tmp/teach.out" || {
  cat "$tmp/teach.out" >&2; fail "teach did not use the INT8 backbone"; }
echo "smoke: $(grep -m 1 "^Taught model" "$tmp/teach.out" | cut -c1-90) (INT8 backbone)"

# The touchscreen on Qt's offscreen platform: proves the Qt plugins and pyqtgraph work frozen.
(cd "$DIST" && env -i HOME="$tmp" PATH=/usr/bin:/bin PYLON_CAMEMU=1 QT_QPA_PLATFORM=offscreen \
  "$EXE" run --quit-after 4 --screenshot "$tmp/shots" --data-dir "$data" > "$tmp/ui.out" 2>&1) || {
  cat "$tmp/ui.out" >&2; fail "touchscreen (offscreen)"; }
shots="$(ls "$tmp/shots"/*.png 2>/dev/null | wc -l)"
[ "$shots" -gt 0 ] || fail "the touchscreen saved no screenshots"
echo "smoke: touchscreen ran offscreen and saved $shots screenshots"

[ -s "$data/logs/hmi.log" ] || fail "no log file at $data/logs/hmi.log"
if grep -q "$pin" "$data/logs/hmi.log"; then fail "the PIN appears in the log"; fi
echo "smoke: log $(wc -l < "$data/logs/hmi.log") lines, no PIN; backup integrity ok"
echo "smoke: passed in $(( $(date +%s) - start )) s"
