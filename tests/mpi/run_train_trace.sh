#!/usr/bin/env bash
# `scaledl train --trace` in a 2-rank job: each rank's trace file is valid trace-event JSON with
# every track's intervals nested, holds each kind of span (step phases, forward and backward per
# layer, the communication thread's allreduces, the loaders' decoding, steps), and the
# allreduces overlap backward in time (tests/telemetry/check_trace.py --expect-overlap).
# --bucket-mb 0.05 cuts resnet8's 301 kB of gradients into 7 buckets, so that overlap can happen.
# usage: run_train_trace.sh MPIEXEC SCALEDL
set -uo pipefail
mpiexec=$1 scaledl=$2
here=$(cd "$(dirname "$0")" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$mpiexec" -n 2 --oversubscribe --mca btl self,vader,tcp "$scaledl" train --model resnet8 \
  --data synthetic:512 --image-size 16 --batch 32 --steps 20 --threads 1 --loader-threads 1 \
  --bucket-mb 0.05 --trace --no-mllog --no-tensorboard --no-monitor --run-dir "$dir/r" \
  >"$dir/log" 2>&1 || { cat "$dir/log"; echo "run_train_trace: FAIL the job failed" >&2; exit 1; }
python3 "$here/../telemetry/check_trace.py" "$dir/r/trace.json" "$dir/r/trace.rank1.json" \
  --expect-overlap --require phase,forward,backward,comm,data,step
