#!/usr/bin/env bash
# The run's telemetry files, end to end on the binary and read by the real readers (the venv of
# scripts/checkers_venv: TensorBoard 2.21, mlperf-logging 4.1.68):
#   tensorboard  a short run's events: TensorBoard reads every scalar (count, steps, values) and
#                the hparams plugin parses the run (tests/telemetry/check_run_tensorboard.py)
#   mllog_sgd    a short synthetic ResNet-50 run set up as the closed rules ask, with sgd: the
#   mllog_lars   compliance checker (--usage training --ruleset 4.0.0) prints SUCCESS; with lars;
#                (mllog_sgd also: that log with run_start removed: the checker prints FAILED)
#   target       --target-accuracy: the run ends at the first evaluation at or above the target,
#                with its checkpoint, and summary.json reports the time to accuracy
#   profile      --profile and scaledl profile: nvprof-style tables with exact call counts
# usage: run_telemetry.sh SCALEDL MODE   exit 0 pass, 1 fail, 77 the checkers' venv is missing
set -uo pipefail
scaledl=$1 mode=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
py=$root/.venv-checkers/bin/python
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "run_telemetry $mode: FAIL $*" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
need_venv() {
  [ -x "$py" ] || { echo "run_telemetry $mode: skip: no $py; run scripts/checkers_venv" >&2; exit 77; }
}
checker() {  # checker LOG: the compliance checker's verdict line and exit code
  "$py" -m mlperf_logging.compliance_checker --usage training --ruleset 4.0.0 \
    --log_output "$dir/checker.log" "$1" >"$dir/checker.out" 2>&1
}
resnet_closed() {  # resnet_closed OPTIMIZER: a closed-rules ResNet-50 run on synthetic data
  "$scaledl" train --model resnet50 --data synthetic:64 --image-size 32 --batch 16 --epochs 12 \
    --threads 1 --schedule poly --lr 0.2 --end-lr 0.0001 --weight-decay 0.0001 \
    --warmup-epochs 1 --optimizer "$1" --mllog-division closed --mllog-platform 1xcpu \
    --target-accuracy 90 --no-tensorboard --run-dir "$dir/r" >"$dir/log" 2>&1 ||
    { cat "$dir/log"; fail "the training run failed"; }
}

case $mode in
tensorboard)
  need_venv
  "$scaledl" train --model lenet5 --data synthetic:2000 --image-size 28 --batch 16 --epochs 3 \
    --log-every 10 --threads 1 --run-dir "$dir/r" >"$dir/log" 2>&1 || { cat "$dir/log"; fail "training failed"; }
  "$py" "$root/tests/telemetry/check_run_tensorboard.py" "$dir/r" || fail "TensorBoard disagrees with the run's records"
  ;;
mllog_sgd | mllog_lars)
  need_venv
  resnet_closed "${mode#mllog_}"
  grep -q '"key": "opt_name", "value": "'"${mode#mllog_}"'"' "$dir/r/mlperf_log.txt" || fail "opt_name is not ${mode#mllog_}"
  checker "$dir/r/mlperf_log.txt" || { cat "$dir/checker.out"; fail "the compliance checker failed the log"; }
  grep -q "SUCCESS" "$dir/checker.out" || { cat "$dir/checker.out"; fail "no SUCCESS"; }
  tail -2 "$dir/checker.out"
  if [ $mode = mllog_sgd ]; then  # the same log without run_start: the checker must fail it
    grep -v '"key": "run_start"' "$dir/r/mlperf_log.txt" >"$dir/broken.txt"
    checker "$dir/broken.txt" && fail "the checker passed a log without run_start"
    grep -q "FAILED" "$dir/checker.out" || { cat "$dir/checker.out"; fail "no FAILED"; }
    grep -q "run_start" "$dir/checker.out" || fail "the checker does not name run_start"
    tail -1 "$dir/checker.out"
  fi
  ;;
target)
  "$scaledl" train --model lenet5 --data synthetic:2000 --image-size 28 --batch 16 --epochs 20 \
    --lr 0.001 --threads 1 --target-accuracy 90 --run-dir "$dir/r" >"$dir/log" 2>&1 ||
    { cat "$dir/log"; fail "training failed"; }
  python3 - "$dir/r" <<'PY' || fail "the run did not stop at the first evaluation reaching 90%"
import json, sys
run = sys.argv[1]
evals = [json.loads(l) for l in open(run + "/evals.jsonl")]
s = json.load(open(run + "/summary.json"))
t = s["time_to_accuracy"]
first = next(i for i, e in enumerate(evals) if e["top1"] >= 90)
assert first == len(evals) - 1, "evaluations went on after reaching the target: %s" % evals
assert 2 <= len(evals) < 20, "want the target reached after two or more evaluations and before the end: %s" % evals
assert t["reached"] and t["step"] == evals[-1]["step"] == s["steps"], (t, evals[-1], s["steps"])
assert 0 < t["seconds"] <= s["wall_seconds"], t
assert s["status"] == "completed", s["status"]
print("target 90%%: reached at step %d (epoch %d of 20) with %.2f%%, %.2f s" %
      (t["step"], evals[-1]["epoch"], evals[-1]["top1"], t["seconds"]))
PY
  ;;
profile)
  # --profile traces the run and prints the tables; scaledl profile prints them again. Counts
  # are exact: 30 steps of resnet8 (7 convolutions, one fc) -> 210 conv2d calls each way.
  "$scaledl" train --model resnet8 --data synthetic:512 --image-size 16 --batch 32 --steps 30 \
    --no-eval --threads 1 --profile --run-dir "$dir/r" >"$dir/log" 2>&1 || { cat "$dir/log"; fail "training failed"; }
  "$scaledl" profile "$dir/r" --top 0 >"$dir/table" 2>&1 || { cat "$dir/table"; fail "scaledl profile failed"; }
  cat "$dir/table"
  grep -Eq '^ *[0-9.]+% +[0-9.]+[mu]?s +210 .* forward conv2d$' "$dir/table" || fail "no 210 forward conv2d calls"
  grep -Eq '^ *[0-9.]+% +[0-9.]+[mu]?s +210 .* backward conv2d$' "$dir/table" || fail "no 210 backward conv2d calls"
  grep -Eq '^ *[0-9.]+% +[0-9.]+[mu]?s +30 .* forward fc$' "$dir/table" || fail "no 30 forward fc calls"
  grep -Eq '^ *[0-9.]+% +[0-9.]+[mu]?s +30 .* optimizer$' "$dir/table" || fail "no 30 optimizer phases"
  grep -q "op kinds" "$dir/log" || fail "--profile printed no tables"
  "$scaledl" profile "$dir" >"$dir/err" 2>&1
  [ $? = 2 ] && grep -q "rerun the training with --trace" "$dir/err" || { cat "$dir/err"; fail "an untraced folder is not one line, exit 2"; }
  ;;
*) fail "unknown mode" ;;
esac
echo "run_telemetry $mode: PASS"
