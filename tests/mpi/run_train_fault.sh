#!/usr/bin/env bash
# Kills (kill -9) or stops (kill -STOP) one rank of a 3-rank `scaledl train` job in the middle of
# training and checks that the whole job ends non-zero within the collective timeout plus a
# margin, that the output names the rank, and that no rank is left behind.
# usage: run_train_fault.sh MPIEXEC SCALEDL kill|stall
set -uo pipefail
mpiexec=$1 scaledl=$2 mode=$3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
dir=$(mktemp -d)
tag="$dir/run"  # on every rank's command line: finds this job's processes and no one else's
out="$dir/out"
trap 'pkill -9 -f -- "$tag" 2>/dev/null; rm -rf "$dir"' EXIT
timeout_s=4
"$mpiexec" -n 3 --oversubscribe --mca btl self,vader,tcp "$scaledl" train --model lenet5 \
  --data synthetic:6000 --image-size 28 --batch 16 --epochs 50 --no-eval --threads 1 \
  --loader-threads 1 --comm-timeout $timeout_s --run-dir "$tag" >"$out" 2>&1 &
job=$!
# Wait until the job is training (its progress line shows up), then pick rank 1.
victim=""
for _ in $(seq 1 100); do
  sleep 0.2
  if grep -q "step" "$out" 2>/dev/null; then
    for pid in $(pgrep -f -- "$tag"); do
      if tr '\0' '\n' </proc/"$pid"/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then
        victim=$pid
      fi
    done
    [ -n "$victim" ] && break
  fi
done
if [ -z "$victim" ]; then
  cat "$out"; echo "run_train_fault: FAIL the job never started training" >&2; exit 1
fi
sleep 0.5
start=$(date +%s%N)
if [ "$mode" = kill ]; then kill -9 "$victim"; else kill -STOP "$victim"; fi
# The job must end by itself: a bound of the timeout plus 15 s for the diagnosis and abort.
bound=$((timeout_s + 15))
for _ in $(seq 1 $((bound * 10))); do
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
ms=$((($(date +%s%N) - start) / 1000000))
status=0
if kill -0 "$job" 2>/dev/null; then
  echo "run_train_fault: FAIL the job still runs $bound s after rank 1 was ${mode}ed" >&2
  status=1
  kill -9 "$job" 2>/dev/null
fi
wait "$job"
code=$?
cat "$out"
echo "run_train_fault: $mode rank 1 (pid $victim): the job ended with exit code $code after" \
  "$((ms / 1000)).$(printf %03d $((ms % 1000))) s"
[ "$code" = 0 ] && { echo "run_train_fault: FAIL want a non-zero exit code" >&2; status=1; }
# A stalled rank 1 can hold rank 0 up too, so the survivors may name both ("ranks 0, 1 did not
# answer"): rank 1 must be among the named.
if ! grep -Eq "ranks? ([0-9]+, )*1(, [0-9]+)* did not answer|process rank 1 .*exited on signal 9" "$out"; then
  echo "run_train_fault: FAIL the output does not name rank 1" >&2; status=1
fi
sleep 1
if pgrep -f -- "$tag" >/dev/null; then
  echo "run_train_fault: FAIL ranks outlived the job: $(pgrep -f -- "$tag" | tr '\n' ' ')" >&2
  status=1
fi
exit $status
