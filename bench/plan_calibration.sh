#!/usr/bin/env bash
# Does `scaledl plan`, calibrated from a 1-rank run, predict the 2-rank throughput? (issue 18)
# ROUNDS alternating rounds of the same lenet5 run (synthetic 28x28, batch 32 per rank, one
# compute and one loader thread per rank, no evaluation):
#   1rank        alone: the calibration run;
#   2ranks-shm   mpirun -np 2 --bind-to core, shared memory between the ranks;
#   2ranks-veth  one rank in each of two network namespaces joined by a veth pair
#                (scripts/two_hosts.sh; root and ip netns, else left out), TCP over the veth.
# Each link is measured first with `scaledl comm bench --json` (allreduce up to 16 MB). Then for
# every round and for the median runs, `scaledl plan --calibrate 1RANK --comm-bench LINK
# --compare 2RANKS` (shm: two devices on a node, the intra link; veth: one device per node, the
# inter link; one core per device) prints predicted against measured images/s. Rows and
# summary.json go to OUT.
# Environment: ROUNDS (5), STEPS (200), SCALEDL (build/scaledl), MPIRUN (mpirun), OUT (a new
# folder under /tmp, kept).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-5} STEPS=${STEPS:-200} SCALEDL=$(readlink -f "${SCALEDL:-build/scaledl}")
MPIRUN=$(command -v "${MPIRUN:-mpirun}")
OUT=${OUT:-$(mktemp -d /tmp/plan_calibration.XXXXXX)}
mkdir -p "$OUT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
train=(train --model lenet5 --data synthetic:4000 --image-size 28 --batch 32 --steps "$STEPS"
       --threads 1 --loader-threads 1 --no-eval --no-tensorboard --no-mllog)
bench=(comm bench --op allreduce --max-bytes 16M --iters 20 --warmup 5)

. "$root/scripts/two_hosts.sh"
trap 'two_hosts_down' EXIT
veth=1
two_hosts_up "$OUT" "$MPIRUN" 300 || veth=0
[ $veth = 1 ] || echo "plan_calibration: no two-namespace setup here: veth runs left out" >&2
# Rank r on core r, as on two real hosts (left to Open MPI, each "host's" orted would bind its
# rank to core 0; left unbound, the scheduler moves them).
veth_mpi=("${TWO_HOSTS_MPI[@]}" --bind-to none sh -c 'exec taskset -c "$OMPI_COMM_WORLD_RANK" "$@"' sh)

"$MPIRUN" -n 2 --bind-to core "$SCALEDL" "${bench[@]}" --json "$OUT/link-shm.json" >/dev/null
[ $veth = 0 ] || "${veth_mpi[@]}" "$SCALEDL" "${bench[@]}" --json "$OUT/link-veth.json" >/dev/null

kinds=(1rank 2ranks-shm)
[ $veth = 0 ] || kinds+=(2ranks-veth)
t0=$SECONDS
for round in $(seq 1 "$ROUNDS"); do
  for kind in "${kinds[@]}"; do
    dir=$OUT/$kind-$round
    rm -rf "$dir"
    case $kind in
      1rank) "$SCALEDL" "${train[@]}" --run-dir "$dir" >"$dir.log" 2>&1 ;;
      2ranks-shm) "$MPIRUN" -n 2 --bind-to core "$SCALEDL" "${train[@]}" --run-dir "$dir" \
                    >"$dir.log" 2>&1 ;;
      2ranks-veth) "${veth_mpi[@]}" "$SCALEDL" "${train[@]}" --run-dir "$dir" >"$dir.log" 2>&1 ;;
    esac || { cat "$dir.log" >&2; echo "plan_calibration: $kind round $round failed" >&2; exit 1; }
  done
  el=$((SECONDS - t0))
  echo "plan_calibration: round $round/$ROUNDS done in ${el} s; ETA $((el * (ROUNDS - round) / round)) s," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done

# plan for one pair of runs: prints "PREDICTED MEASURED"
# Each rank has one of the machine's two cores (shm: bound; veth: two ranks, two cores), so its
# loader and monitor share that core with compute: --cores-per-device 1.
plan() {  # ONE TWO LINK
  local link=$3 args
  if [ "$link" = shm ]; then args=(--devices-per-node 2); else
    args=(--devices-per-node 1 --comm-bench-link inter); fi
  "$SCALEDL" plan --calibrate "$1" --comm-bench "$OUT/link-$link.json" "${args[@]}" \
    --cores-per-device 1 --devices 1,2 --compare "$2" --json |
    python3 -c 'import json,sys; c=json.load(sys.stdin)["comparisons"][-1]
print(c["predicted_ips"], c["measured_ips"])'
}
: >"$OUT/rows"
for round in $(seq 1 "$ROUNDS"); do
  for kind in "${kinds[@]:1}"; do
    echo "$kind $round $(plan "$OUT/1rank-$round" "$OUT/$kind-$round" "${kind#2ranks-}")" >>"$OUT/rows"
  done
done
median_run() {  # KIND: the run folder with the median images/s (the upper one for even ROUNDS)
  python3 - "$OUT" "$1" <<'PY'
import json, os, sys
out, kind = sys.argv[1:]
v = sorted((json.load(open(os.path.join(out, d, "summary.json")))["images_per_sec"], d)
           for d in os.listdir(out) if d.startswith(kind + "-") and os.path.isdir(os.path.join(out, d)))
print(v[len(v) // 2][1])
PY
}
one=$(median_run 1rank)
for kind in "${kinds[@]:1}"; do
  echo "$kind median $(plan "$OUT/$one" "$OUT/$(median_run "$kind")" "${kind#2ranks-}")" >>"$OUT/rows"
done
python3 - "$OUT" "${kinds[@]}" <<'PY'
import json, os, statistics, sys
out, kinds = sys.argv[1], sys.argv[2:]
ips = lambda d: json.load(open(os.path.join(out, d, "summary.json")))["images_per_sec"]
runs = {k: [ips(f"{k}-{r}") for r in range(1, 1000) if os.path.isdir(os.path.join(out, f"{k}-{r}"))]
        for k in kinds}
summary = {"runs_images_per_sec": runs, "links": {}, "pairs": []}
for link in ("shm", "veth"):
    f = os.path.join(out, f"link-{link}.json")
    if os.path.exists(f):
        big = max(json.load(open(f)), key=lambda r: r["bytes"])
        summary["links"][link] = {"bytes": big["bytes"], "busbw_gbps": big["busbw_gbps"], "time_us": big["time_us"]}
print(f"{'pair':24} {'predicted':>10} {'measured':>10} {'error':>8}")
for kind, rnd, pred, meas in (l.split() for l in open(os.path.join(out, "rows"))):
    pred, meas = float(pred), float(meas)
    summary["pairs"].append({"kind": kind, "round": rnd, "predicted_ips": pred,
                             "measured_ips": meas, "error": pred / meas - 1})
    name = f"{kind} {'round ' + rnd if rnd != 'median' else 'median runs'}"
    print(f"{name:24} {pred:10.0f} {meas:10.0f} {100 * (pred / meas - 1):+7.1f}%")
for k, v in runs.items():
    print(f"{k:12} images/s: {' '.join(str(round(x)) for x in v)} -> median {statistics.median(v):.0f}")
with open(os.path.join(out, "summary.json.part"), "w") as f:
    json.dump(summary, f, indent=1)
os.replace(os.path.join(out, "summary.json.part"), os.path.join(out, "summary.json"))
PY
echo "plan_calibration: runs, rows and summary.json in $OUT"
