#!/usr/bin/env bash
# What the run's telemetry costs: the Fashion-MNIST quick start (resnet_small, batch 128, 2
# threads) with every sink on (TensorBoard, MLPerf log, system monitor, Chrome trace, status
# heartbeat: the defaults plus --trace) against all of them off, alternating, ROUNDS rounds of
# EPOCHS epochs each. Prints each run's images/s (warm-up steps excluded, summary.json), then
#   telemetry_overhead: all on X img/s, all off Y img/s (medians), on/off Z
# Usage: bench/telemetry_overhead.sh   Environment: ROUNDS (3), EPOCHS (1), SCALEDL (build/scaledl)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
EPOCHS="${EPOCHS:-1}"
SCALEDL="${SCALEDL:-build/scaledl}"
[[ -x "$SCALEDL" ]] || scripts/setup
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(train --epochs "$EPOCHS" --no-eval --threads 2)
on=(--trace --tensorboard --mllog --monitor --heartbeat 10)
off=(--no-tensorboard --no-mllog --no-monitor --heartbeat 3600)
run() {  # run NAME ARGS...: prints images/s
  local name=$1
  shift
  rm -rf "$tmp/$name"
  "$SCALEDL" "${common[@]}" "$@" --run-dir "$tmp/$name" >"$tmp/$name.log" 2>&1 ||
    { cat "$tmp/$name.log" >&2; exit 1; }
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['images_per_sec'])" "$tmp/$name/summary.json"
}
ons=() offs=()
for r in $(seq 1 "$ROUNDS"); do
  a=$(run on "${on[@]}") b=$(run off "${off[@]}")
  ons+=("$a") offs+=("$b")
  printf 'round %d: all on %.1f img/s, all off %.1f img/s\n' "$r" "$a" "$b"
done
python3 - "${ons[*]}" "${offs[*]}" <<'PY'
import statistics, sys
on = statistics.median(map(float, sys.argv[1].split()))
off = statistics.median(map(float, sys.argv[2].split()))
print("telemetry_overhead: all on %.1f img/s, all off %.1f img/s (medians), on/off %.3f" % (on, off, on / off))
PY
