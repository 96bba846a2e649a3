#!/usr/bin/env bash
# SIGTERM to one rank (one) or to every rank (all) of a 3-rank `scaledl train` job mid-epoch:
# the ranks agree to stop at the same step (the vote rides each step's loss allreduce), rank 0
# writes one checkpoint at that step, every rank exits with 75 well within the collective
# timeout, and nothing is left running. Then the job resumes with --resume auto and completes.
# usage: run_train_stop.sh MPIEXEC SCALEDL one|all
set -uo pipefail
mpiexec=$1 scaledl=$2 mode=$3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
dir=$(mktemp -d)
tag="$dir/run"  # on every rank's command line: finds this job's processes and no one else's
trap 'pkill -9 -f -- "$tag" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "run_train_stop $mode: FAIL $*" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
timeout_s=4
args=(train --model lenet5 --data synthetic:6000 --image-size 28 --batch 16 --epochs 4
      --threads 1 --loader-threads 1 --comm-timeout $timeout_s --heartbeat 1 --run-dir "$tag")
"$mpiexec" -n 3 --oversubscribe --mca btl self,vader,tcp "$scaledl" "${args[@]}" >"$dir/out" 2>&1 &
job=$!
# Each rank's pid, once training runs (mid-epoch 1: 125 steps per epoch, 20 per record).
pids=()
for _ in $(seq 1 300); do
  sleep 0.1
  [ -f "$tag/steps.jsonl" ] && [ "$(wc -l <"$tag/steps.jsonl")" -ge 8 ] || continue
  pids=()
  for r in 0 1 2; do
    for pid in $(pgrep -f -- "$tag"); do
      tr '\0' '\n' </proc/"$pid"/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$r" && pids+=("$pid")
    done
  done
  [ ${#pids[@]} = 3 ] && break
done
[ ${#pids[@]} = 3 ] || { cat "$dir/out"; fail "did not find the 3 ranks training"; }
start=$(date +%s%N)
if [ "$mode" = one ]; then kill -TERM "${pids[1]}"; else kill -TERM "${pids[@]}"; fi
bound=$((timeout_s + 10))
for _ in $(seq 1 $((bound * 10))); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
ms=$((($(date +%s%N) - start) / 1000000))
kill -0 $job 2>/dev/null && { kill -9 $job; cat "$dir/out"; fail "the job still runs $bound s after SIGTERM"; }
wait $job
code=$?
cat "$dir/out"
echo "run_train_stop $mode: exit code $code, $ms ms after SIGTERM"
[ "$code" = 75 ] || fail "exit code $code, want 75 (stopped)"
sleep 0.5
pgrep -f -- "$tag" >/dev/null && fail "ranks outlived the job: $(pgrep -f -- "$tag" | tr '\n' ' ')"
step=$(json "$tag/summary.json" 'd["stopped"]["step"]')
want=$([ "$mode" = one ] && echo 1 || echo 3)
[ "$(json "$tag/summary.json" 'd["stopped"]["ranks_signalled"]')" = $want ] || fail "ranks_signalled is not $want"
[ "$(json "$tag/status.json" 'd["state"]')" = stopped ] || fail "status.json is not stopped"
[ "$(json "$tag/status.json" 'd["checkpoint_step"]')" = "$step" ] || fail "the checkpoint is not at step $step"
[ "$(ls "$tag" | grep -c checkpoint)" = 1 ] || fail "want one checkpoint file: $(ls "$tag")"
# Every rank stopped at the same step: the ranks that got no signal say so in the same line.
[ "$(grep -c "stopped by .* at step $step of" "$dir/out")" = 1 ] || fail "rank 0 did not report step $step"
"$mpiexec" -n 3 --oversubscribe --mca btl self,vader,tcp "$scaledl" "${args[@]}" --resume auto \
  >"$dir/resume" 2>&1 || { cat "$dir/resume"; fail "the resumed job failed"; }
grep -q "resumed from .* at step $step" "$dir/resume" || fail "the job did not resume at step $step"
[ "$(json "$tag/status.json" 'd["state"]')" = completed ] || fail "not completed after the resume"
echo "run_train_stop $mode: every rank stopped at step $step; resumed and completed: PASS"
