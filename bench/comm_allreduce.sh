#!/usr/bin/env bash
# Allreduce bandwidth on one host, scaledl's MPI group against plain MPI_Allreduce. Rows, run
# alternately for ROUNDS rounds in one run (so drifting machine load hits both alike):
#   ours   mpirun -n RANKS build/scaledl comm bench --op allreduce --min-bytes 64M --max-bytes 64M
#   mpi    mpirun -n RANKS build/mpi_allreduce_loop 67108864     (bench/mpi_allreduce_loop.c)
# Both: f32 sum in place, WARMUP untimed calls, a barrier, ITERS timed calls, the slowest rank's
# mean time per call, busbw = bytes/time * 2(n-1)/n, one more call checked exactly. Then prints
# the medians of busbw, the ratio ours/MPI (target >= 0.90), a sweep (8 B .. 256 MB) of ours,
# and one JSON object with all of it (the lead copies figures into docs/performance.md).
#
# Usage: bench/comm_allreduce.sh     (from anywhere; builds build/scaledl if missing)
# Environment: ROUNDS (5), RANKS (2), SIZE (67108864 bytes), ITERS (20), WARMUP (5),
#   SWEEP (1: run the sweep; 0: skip it), SCALEDL (build/scaledl), MPIRUN (mpirun),
#   MPI_ARGS (--oversubscribe --mca btl self,vader,tcp).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-5}"
RANKS="${RANKS:-2}"
SIZE="${SIZE:-67108864}"
ITERS="${ITERS:-20}"
WARMUP="${WARMUP:-5}"
SWEEP="${SWEEP:-1}"
SCALEDL="${SCALEDL:-build/scaledl}"
MPIRUN="${MPIRUN:-mpirun}"
read -r -a MPI_ARGS <<<"${MPI_ARGS:---oversubscribe --mca btl self,vader,tcp}"
PEER=build/mpi_allreduce_loop
# Containers often run as root; Open MPI refuses that unless told it is intended.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

log() { echo "[bench] $*" >&2; }

if [[ ! -x "$SCALEDL" ]]; then
  log "building scaledl (Release, MPI) into build/"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSCALEDL_MPI=ON >/dev/null
  cmake --build build -j2 --target scaledl
  SCALEDL=build/scaledl
fi
mkdir -p build
if [[ ! -x "$PEER" || bench/mpi_allreduce_loop.c -nt "$PEER" ]]; then
  log "compiling $PEER with mpicc -O2"
  mpicc -O2 -Wall -Wextra -o "$PEER" bench/mpi_allreduce_loop.c
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
RESULTS="$TMP/results.jsonl"

# One run of a row; appends {"row", "round", "busbw_gbps", ...} to RESULTS, prints busbw.
run() {
  local name=$1 round=$2 json
  if [[ $name == ours ]]; then
    "$MPIRUN" -n "$RANKS" "${MPI_ARGS[@]}" "$SCALEDL" comm bench --op allreduce \
      --min-bytes "$SIZE" --max-bytes "$SIZE" --iters "$ITERS" --warmup "$WARMUP" \
      --json "$TMP/ours.json" >"$TMP/out" 2>&1 || { cat "$TMP/out" >&2; exit 1; }
    json="$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[0]))' \
      "$TMP/ours.json")"
  else
    "$MPIRUN" -n "$RANKS" "${MPI_ARGS[@]}" "$PEER" "$SIZE" "$ITERS" "$WARMUP" >"$TMP/out" 2>&1 ||
      { cat "$TMP/out" >&2; exit 1; }
    json="$(grep '^{' "$TMP/out")"
  fi
  python3 -c 'import json,sys; r=json.loads(sys.argv[3]); r.update(row=sys.argv[1], round=int(sys.argv[2])); print(json.dumps(r))' \
    "$name" "$round" "$json" >>"$RESULTS"
  python3 -c 'import json,sys; print(json.loads(sys.argv[1])["busbw_gbps"])' "$json"
}

log "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds; $RANKS ranks;" \
  "$SIZE bytes, $ITERS iterations after $WARMUP warm-up; $("$MPIRUN" --version | head -1)"
START=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
  for name in ours mpi; do
    v="$(run "$name" "$r")"
    printf 'round %d: %-5s busbw %8.3f GB/s\n' "$r" "$name" "$v"
  done
  log "round $r done at $((SECONDS - START)) s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
done

if [[ $SWEEP == 1 ]]; then
  echo
  echo "sweep of ours (8 B .. 256 MB):"
  "$MPIRUN" -n "$RANKS" "${MPI_ARGS[@]}" "$SCALEDL" comm bench --op allreduce --min-bytes 8 \
    --max-bytes 256M --iters "$ITERS" --warmup "$WARMUP" --json "$TMP/sweep.json"
else
  echo "[]" >"$TMP/sweep.json"
fi

echo
python3 - "$RESULTS" "$TMP/sweep.json" "$ROUNDS" "$RANKS" "$SIZE" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, statistics, sys
results, sweep, rounds, ranks, size, load = sys.argv[1:]
runs = [json.loads(l) for l in open(results)]
rows = {}
for r in runs:
    rows.setdefault(r["row"], []).append(r)
med = {n: statistics.median(x["busbw_gbps"] for x in rs) for n, rs in rows.items()}
print(f"medians over {rounds} rounds ({ranks} ranks, allreduce f32 sum of {int(size)} bytes):")
for n, rs in rows.items():
    t = statistics.median(x["time_us"] for x in rs)
    print(f"  {n:5s} busbw {med[n]:8.3f} GB/s  time {t / 1e3:9.3f} ms")
ratio = med["ours"] / med["mpi"]
print(f"  ratio ours/MPI_Allreduce {ratio:6.3f}  (target >= 0.90)")
print(json.dumps({"bench": "comm_allreduce", "rounds": int(rounds), "ranks": int(ranks),
                  "bytes": int(size), "median_busbw_gbps": med, "ratio_ours_mpi": ratio,
                  "runs": {n: [x["busbw_gbps"] for x in rs] for n, rs in rows.items()},
                  "wrong": {n: sum(x["wrong"] or 0 for x in rs) for n, rs in rows.items()},
                  "load_average_end": load,
                  "sweep": [{k: r[k] for k in ("bytes", "time_us", "busbw_gbps", "wrong")}
                            for r in json.load(open(sweep))]}))
PY
log "total $((SECONDS - START)) s"
