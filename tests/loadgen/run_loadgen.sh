#!/usr/bin/env bash
# `scaledl loadgen` end to end under MLPerf's LoadGen, on the small model of fuzz/corpus/onnx
# (valid-fp32, written by scaledl export: 3x8x8 in, 5 classes) and 200 seeded samples:
#   accuracy  LoadGen's accuracy mode: the top-1 read back from mlperf_log_accuracy.json equals
#             `scaledl infer --data` on the same samples; Offline performance is VALID with a
#             summary.json that names its metric
#   errors    one line and exit 2: an invalid user.conf (LoadGen's complaint and the line), an
#             unknown scenario, fewer samples than --performance-sample-count
# usage: run_loadgen.sh SCALEDL MODE   (numpy from the checkers' venv; exit 77 without it)
set -euo pipefail
scaledl=$1 mode=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
py=$root/.venv-checkers/bin/python
model=$root/fuzz/corpus/onnx/valid-fp32
if [[ ! -x "$py" ]] || ! "$py" -c 'import numpy' 2>/dev/null; then
  echo "run_loadgen: skip: no numpy in $py (scripts/checkers_venv)" >&2
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" - "$work" <<'PY'
import sys, numpy as np
r = np.random.default_rng(3)
np.save(f"{sys.argv[1]}/x.npy", r.normal(0, 1, (200, 3, 8, 8)).astype(np.float32))
np.save(f"{sys.argv[1]}/x.labels.npy", r.integers(0, 5, 200).astype(np.int64))
PY
fail() { echo "run_loadgen $mode: FAIL: $*" >&2; exit 1; }
json() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }
common=(--onnx "$model" --data "npy:$work/x.npy" --threads 1)

case $mode in
accuracy)
  "$scaledl" infer "${common[@]}" --batch 16 --run-dir "$work/infer" >/dev/null
  want=$(json "$work/infer/summary.json" "['top1']")
  "$scaledl" loadgen "${common[@]}" --scenario Offline --mode accuracy --max-batch 16 \
    --output "$work/acc" >"$work/acc.log" || { cat "$work/acc.log"; fail "accuracy run"; }
  got=$(json "$work/acc/summary.json" "['top1']")
  n=$(json "$work/acc/summary.json" "['accuracy_samples']")
  echo "top-1: loadgen accuracy mode $got% over $n samples, scaledl infer $want%"
  [[ "$n" == 200 ]] || fail "LoadGen's accuracy log holds $n responses, not 200"
  "$py" -c "import sys; sys.exit(abs($got - $want) > 1e-9)" || fail "top-1 $got != $want"
  [[ -s "$work/acc/mlperf_log_accuracy.json" && -s "$work/acc/mlperf_log_summary.txt" ]] ||
    fail "LoadGen's logs are missing"
  # Offline is VALID when its one query outlasts min_duration: expect more than this machine
  # can do (LoadGen issues target x min_duration samples; the model runs ~1e5 a second).
  "$scaledl" loadgen "${common[@]}" --scenario Offline --target-qps 200000 --min-duration-ms 300 \
    --min-query-count 1 --output "$work/perf" >"$work/perf.log" ||
    { cat "$work/perf.log"; fail "performance run"; }
  [[ "$(json "$work/perf/summary.json" "['result']")" == VALID ]] || fail "Offline not VALID"
  sps=$(json "$work/perf/summary.json" "['samples_per_second']")
  grep -q "Samples per second: $sps" "$work/perf/mlperf_log_summary.txt" ||
    grep -q "Samples per second" "$work/perf/mlperf_log_summary.txt" || fail "no LoadGen summary"
  echo "Offline: $sps samples/s, VALID"
  ;;
errors)
  expect() {  # expect WANT_TEXT CMD...: one line on stderr containing WANT_TEXT, exit 2
    local want=$1; shift
    set +e
    "$@" >/dev/null 2>"$work/err"
    local rc=$?
    set -e
    [[ $rc == 2 ]] || fail "exit $rc, not 2, for: $*"
    [[ $(wc -l <"$work/err") == 1 ]] || fail "not one line: $(cat "$work/err")"
    grep -qF -- "$want" "$work/err" || fail "no '$want' in: $(cat "$work/err")"
    echo "refused: $(cat "$work/err")"
  }
  printf '*.Offline.min_duration = 500\n*.Offline.target_qps = fast\n' >"$work/user.conf"
  expect "line 2: value needs to be integer or double" \
    "$scaledl" loadgen "${common[@]}" --scenario Offline --user-conf "$work/user.conf"
  expect "no such file" \
    "$scaledl" loadgen "${common[@]}" --scenario Offline --user-conf "$work/none.conf"
  expect "--scenario Batch" "$scaledl" loadgen "${common[@]}" --scenario Batch
  expect "fewer than performance_sample_count 1024" \
    "$scaledl" loadgen "${common[@]}" --scenario Offline --performance-sample-count 1024
  ;;
*) fail "unknown mode $mode" ;;
esac
