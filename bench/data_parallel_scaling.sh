#!/usr/bin/env bash
# Data-parallel scaling on one host: Fashion-MNIST resnet_small, batch 64 per rank, one compute
# thread per rank, ROUNDS alternating rounds of: 1 rank; 2 ranks with 25 MB buckets (the net's
# 1.4 MB of gradients is one bucket: nothing to overlap); 2 ranks with 0.25 MB buckets (several
# buckets, overlapped with backward); the same without overlap. Prints median images/s, the
# scaling efficiency against the 1-rank figure and the share of communication hidden, read from
# each run's summary.json.
# Environment: ROUNDS (3), STEPS (300), SCALEDL (build/scaledl), MPIRUN (mpirun).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3} STEPS=${STEPS:-300} SCALEDL=${SCALEDL:-build/scaledl} MPIRUN=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(train --batch 64 --steps "$STEPS" --no-eval --threads 1 --loader-threads 1 --log-every 50)
run() {  # name ranks extra-flags...
  local name=$1 ranks=$2
  shift 2
  local dir="$out/$name-$round"
  "$MPIRUN" -n "$ranks" --bind-to core --mca btl self,vader,tcp "$SCALEDL" "${common[@]}" \
    --run-dir "$dir" "$@" >/dev/null 2>&1
  python3 -c "
import json; s = json.load(open('$dir/summary.json')); d = s['distributed']
print('$name', s['images_per_sec'], d['hidden_fraction'], d['exposed_comm_seconds'], d['allreduce_seconds'], d['buckets'])" >>"$out/rows"
}
for round in $(seq 1 "$ROUNDS"); do
  run 1rank 1
  run 2ranks-25MB 2
  run 2ranks-0.25MB 2 --bucket-mb 0.25
  run 2ranks-0.25MB-no-overlap 2 --bucket-mb 0.25 --no-overlap
  echo "round $round done, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
python3 - "$out/rows" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, ips, hidden, exposed, comm, buckets = line.split()
    rows.setdefault(name, []).append((float(ips), float(hidden), float(exposed), float(comm), int(buckets)))
base = statistics.median(r[0] for r in rows["1rank"])
print(f"{'run':28} {'images/s':>9} {'efficiency':>10} {'buckets':>7} {'comm s':>7} {'exposed s':>9} {'hidden':>6}")
for name, rs in rows.items():
    ips = statistics.median(r[0] for r in rs)
    ranks = 1 if name == "1rank" else 2
    print(f"{name:28} {ips:9.0f} {ips / (ranks * base):10.3f} {rs[0][4]:7d} "
          f"{statistics.median(r[3] for r in rs):7.2f} {statistics.median(r[2] for r in rs):9.2f} "
          f"{statistics.median(r[1] for r in rs):6.2f}")
PY
