#!/usr/bin/env bash
# A `scaledl train` job under a real Slurm (slurm_harness.sh) with a 1-minute time limit and the
# warning signal (deploy/slurm/train.sbatch with --time=1 --signal=USR1@20): the warning stops
# training at a step with a checkpoint, the job requeues itself once, the requeued run resumes
# from the checkpoint and completes with the same final loss as an unbroken run.
# The run is sized (from a short timing run under srun) to about 45 s of training, well past the
# ~27 s until the warning; once the job is back in the queue the test raises its time limit to
# 5 minutes (an administrator's scontrol update), so the requeued run completes whatever the
# machine's load does to its speed. The unbroken run goes on beside the job (one core each: the
# job only gets slower, and the warning comes at a fixed time). Takes about 70 s.
# usage: run_train_requeue.sh SCALEDL   exit 0 pass, 1 fail, 77 Slurm not usable here
set -uo pipefail
scaledl=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
harness=$here/slurm_harness.sh
fail() { echo "run_train_requeue: FAIL $*" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
tmp=$(mktemp -d /tmp/rqtrain.XXXXXX)
trap '"$harness" stop "$tmp/slurm" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
env_out=$("$harness" start "$tmp/slurm")
case $? in
  0) eval "$env_out" ;;
  2) echo "run_train_requeue: skip: Slurm is not usable here (scripts/setup installs it; needs root)" >&2; exit 77 ;;
  *) fail "slurm_harness.sh start failed (see above)" ;;
esac

args=(--model lenet5 --data synthetic:4000 --image-size 28 --batch 16 --no-eval --threads 1
      --loader-threads 1 --log-every 50)
# Steps per second on this machine, then a run of about 40 s.
# Timed under srun, as the job will run (task launch and placement differ from a bare run).
srun --time=1 "$scaledl" train "${args[@]}" --steps 600 --run-dir "$tmp/timing" >/dev/null 2>&1 || fail "the timing run failed"
rate=$(json "$tmp/timing/summary.json" 'd["images_per_sec"] / 16')
steps=$(python3 -c "print(int($rate * 45))")
echo "run_train_requeue: $rate steps/s: $steps steps"

cd "$tmp" || exit 1
job=$(SCALEDL="$scaledl" SCALEDL_RUN_DIR="$tmp/run" sbatch --parsable --time=1 --signal=USR1@20 \
  --output="$tmp/job.out" "$root/deploy/slurm/train.sbatch" "${args[@]}" --steps "$steps") ||
  fail "sbatch refused the job"
echo "run_train_requeue: job $job"
"$scaledl" train "${args[@]}" --steps "$steps" --run-dir "$tmp/whole" >"$tmp/whole.log" 2>&1 &
whole=$!
state="" raised=""
for _ in $(seq 1 240); do
  sleep 1
  state=$(scontrol show job "$job" 2>/dev/null | grep -o 'JobState=[A-Z]*' | cut -d= -f2)
  restarts=$(scontrol show job "$job" 2>/dev/null | grep -o 'Restarts=[0-9]*' | cut -d= -f2)
  if [ -z "$raised" ] && [ "${restarts:-0}" -ge 1 ]; then
    scontrol update JobId="$job" TimeLimit=5 && raised=yes
    echo "run_train_requeue: requeued; time limit raised to 5 minutes"
  fi
  case $state in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
done
wait "$whole" || { cat "$tmp/whole.log"; fail "the unbroken run failed"; }
echo "run_train_requeue: the unbroken run took $(json "$tmp/whole/summary.json" 'd["wall_seconds"]') s"
cat "$tmp/job.out"
scontrol show job "$job" | grep -E 'JobState|Restarts|ExitCode'
[ "$state" = COMPLETED ] || fail "the job ended $state, want COMPLETED"
[ "$restarts" = 1 ] || fail "the job ran $((restarts + 1)) times, want 2 (requeued once)"
grep -q "SIGUSR1 received" "$tmp/job.out" || fail "no SIGUSR1 warning reached the trainer"
grep -q "requeued Slurm job $job" "$tmp/job.out" || fail "the trainer did not requeue the job"
grep -q "resumed from .* at step" "$tmp/job.out" || fail "the requeued run did not resume"
[ "$(json "$tmp/run/status.json" 'd["state"]')" = completed ] || fail "status.json is not completed"
[ "$(json "$tmp/run/status.json" 'd["slurm_restart_count"]')" = 1 ] || fail "status.json does not show the restart"
a=$(json "$tmp/run/summary.json" 'd["final_loss"]') b=$(json "$tmp/whole/summary.json" 'd["final_loss"]')
echo "run_train_requeue: final loss $a requeued, $b unbroken"
[ "$a" = "$b" ] || fail "final losses differ"
echo "run_train_requeue: PASS"
