#!/usr/bin/env bash
# ResNet-50 inference throughput on the CPU, scaledl against ONNX Runtime, OpenVINO and
# PyTorch: 224x224, batch 1 and 32, 2 threads each, fp32, bf16 and int8. One ResNet-50 with
# fixed-seed random weights (bench/infer_peers.py prepare) is run by everyone: ours from its
# scaledl checkpoint, ORT and OpenVINO from its ONNX export (int8: ORT's static QDQ
# quantization, entropy-calibrated on the same 100 images ours calibrates on), torch from the
# same checkpoint. Rows, alternated within each round (odd rounds in this order, even rounds
# reversed, so drifting machine load hits every row alike):
#   ours-fp32   scaledl infer --precision fp32 --batch 1,32
#   ort-fp32, ov-fp32, torch-fp32                         (one process per peer and batch)
#   ours-bf16   scaledl infer --precision bf16
#   ov-bf16 (INFERENCE_PRECISION_HINT bf16), torch-bf16 (autocast, channels_last)
#   ours-int8   scaledl infer --precision int8 --calib-data npy:calib.npy --calib-method entropy
#   ort-int8, ov-int8 (both run the QDQ model)
# then prints the medians (images/s, p50/p90/p99 ms per batch) and
#   resnet50_<prec>_b<B>: ours X img/s, peer NAME Y img/s, ratio R
# against the fastest peer of each precision, and ours int8 against ours fp32; every figure
# goes to WORK/summary.json. In the last round the ov-* rows also write OpenVINO's per-layer
# table to WORK/perf/<row>-b<B>.tsv (PERF_COUNTS=0: not).
#
# Run it on an otherwise idle machine: with the cores shared, OpenMP's spinning threads
# collapse (torch took 2.7 s an image at 2 threads beside a compile, 0.3 s at 1). On a CPU
# without bf16 instructions OpenVINO runs f32 for the bf16 hint (its rows say so) and torch
# emulates bf16.
#
# Peers come from the virtual environment bench/infer_venv.sh makes at .venv-infer (pinned
# versions from PyPI; reused when present). The model files are made once into WORK/model.
#
# Usage: bench/infer_cpu.sh            (from anywhere; needs build/scaledl with `infer`)
#        PEERS_ONLY=1 bench/infer_cpu.sh   (the peers alone)
# Environment: ROUNDS (3), SECONDS_PER_RUN (10 timed seconds per row and batch), THREADS (2),
#   WORK (/tmp/scaledl-infer-bench), SCALEDL (build/scaledl), PEERS_ONLY (0),
#   BATCHES (1,32), CALIB_IMAGES (100), PEERS (all seven), PERF_COUNTS (1), SEED (0).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
THREADS="${THREADS:-2}"
WORK="${WORK:-/tmp/scaledl-infer-bench}"
SCALEDL="${SCALEDL:-build/scaledl}"
PEERS_ONLY="${PEERS_ONLY:-0}"
BATCHES="${BATCHES:-1,32}"
CALIB_IMAGES="${CALIB_IMAGES:-100}"
PEERS="${PEERS:-ort-fp32 ov-fp32 torch-fp32 ov-bf16 torch-bf16 ort-int8 ov-int8}"
PERF_COUNTS="${PERF_COUNTS:-1}"
SEED="${SEED:-0}"
SIZE=224
PREPARE_FORMAT=1  # bench/infer_peers.py PREPARE_FORMAT: older model folders are made again
MODEL="$WORK/model"
RESULTS="$WORK/results.jsonl"
FAILED="$WORK/failed.txt"
PEERS_PY="$ROOT/bench/infer_peers.py"

export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"

log() { echo "[bench] $*" >&2; }

if [[ "$PEERS_ONLY" != 1 ]] && ! "$SCALEDL" infer --help >/dev/null 2>&1; then
  log "$SCALEDL has no working 'infer' subcommand; build it (scripts/setup) or set SCALEDL,"
  log "or run the peers alone with PEERS_ONLY=1"
  exit 2
fi

PY="$(bench/infer_venv.sh)/bin/python"
mkdir -p "$WORK/runs" "$WORK/logs" "$WORK/perf"

# --- the model, once ---
prepared() {  # true when WORK/model was made with these settings
  "$PY" -c 'import json,sys; p=json.load(open(sys.argv[1]))
want = [int(a) for a in sys.argv[2:]]
sys.exit(0 if [p.get("prepare_format"), p["seed"], p["image_size"], p["calib_images"]] == want else 1)' \
    "$MODEL/prepared.json" "$PREPARE_FORMAT" "$SEED" "$SIZE" "$CALIB_IMAGES" 2>/dev/null
}
if ! prepared; then
  log "preparing the model in $MODEL (export, int8 calibration: a few minutes, once)"
  "$PY" "$PEERS_PY" prepare --out "$MODEL" --image-size "$SIZE" --calib-images "$CALIB_IMAGES" \
    --seed "$SEED" >"$WORK/logs/prepare.log" 2>&1 || { tail -30 "$WORK/logs/prepare.log" >&2; exit 1; }
fi
"$PY" -c 'import json,sys; p=json.load(open(sys.argv[1]))
print("[bench] model:", sys.argv[1], "- ORT against torch: fp32", p["ort_fp32_vs_torch"],
      "int8", p["ort_int8_vs_torch"], file=sys.stderr)' "$MODEL/prepared.json"

# --- one row ---
fail() {  # name, log: the row is left out of the figures, the run goes on
  log "FAILED: $1 (last lines of $2:)"
  tail -15 "$2" >&2 || true
  echo "$1 (log: $2)" >>"$FAILED"
}

# Tags a result row (JSON on stdin) with its name and round, appends it to RESULTS, logs it.
record() {  # round
  "$PY" -c 'import json,sys
for line in sys.stdin:
    r = json.loads(line)
    r.setdefault("name", r.get("peer"))
    r["round"] = int(sys.argv[2])
    print(json.dumps(r), file=open(sys.argv[1], "a"))
    print("[bench]   %(name)s batch %(batch)d: %(images_per_sec).1f img/s, p50 %(p50_ms).1f ms"
          % r, file=sys.stderr)' "$RESULTS" "$1"
}

run_ours() {  # precision round
  local prec="$1" round="$2" run="$WORK/runs/ours-$1-r$2" logf="$WORK/logs/ours-$1-r$2.log"
  local extra=()
  [[ "$prec" == int8 ]] && extra=(--calib-data "npy:$MODEL/calib.npy" \
    --calib-images "$CALIB_IMAGES" --calib-method entropy)
  rm -rf "$run"
  log "round $round: ours-$prec batch $BATCHES"
  if "$SCALEDL" infer --checkpoint "$MODEL/resnet50.safetensors" --precision "$prec" \
      --batch "$BATCHES" --seconds "$SECONDS_PER_RUN" --threads "$THREADS" --run-dir "$run" \
      "${extra[@]}" >"$logf" 2>&1 && [[ -f "$run/summary.json" ]]; then
    "$PY" -c 'import json,sys
s=json.load(open(sys.argv[1]))
for b, ips in s["images_per_sec"].items():
    lat = s["latency_ms"][b]
    print(json.dumps({"name": "ours-" + sys.argv[2], "batch": int(b), "threads": int(sys.argv[3]),
                      "images_per_sec": ips, "p50_ms": lat["p50"], "p90_ms": lat["p90"],
                      "p99_ms": lat["p99"]}))' \
      "$run/summary.json" "$prec" "$THREADS" | record "$round" ||
      fail "ours-$prec round $round (summary.json)" "$logf"
  else
    fail "ours-$prec round $round" "$logf"
  fi
}

run_peer() {  # peer batch round
  local peer="$1" batch="$2" round="$3" logf="$WORK/logs/$1-b$2-r$3.log" perf=()
  [[ "$PERF_COUNTS" == 1 && "$round" == "$ROUNDS" && "$peer" == ov-* ]] &&
    perf=(--perf-counts "$WORK/perf/$peer-b$batch.tsv")
  log "round $round: $peer batch $batch"
  local line
  if line="$("$PY" "$PEERS_PY" run --dir "$MODEL" --peer "$peer" --batch "$batch" \
      --seconds "$SECONDS_PER_RUN" --threads "$THREADS" --json "${perf[@]}" 2>"$logf")"; then
    record "$round" <<<"$line"
  else
    fail "$peer batch $batch round $round" "$logf"
  fi
}

# --- the rounds ---
TASKS=()
for prec in fp32 bf16 int8; do
  [[ "$PEERS_ONLY" == 1 ]] || TASKS+=("ours $prec")
  for peer in $PEERS; do
    [[ "$peer" == *-"$prec" ]] || continue
    for b in ${BATCHES//,/ }; do TASKS+=("peer $peer $b"); done
  done
done

: >"$RESULTS"
: >"$FAILED"
for ((round = 1; round <= ROUNDS; round++)); do
  order=("${TASKS[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#TASKS[@]} - 1; i >= 0; i--)); do order+=("${TASKS[i]}"); done
  fi
  for task in "${order[@]}"; do
    read -r kind a b <<<"$task"
    if [[ "$kind" == ours ]]; then run_ours "$a" "$round"; else run_peer "$a" "$b" "$round"; fi
  done
done

# --- medians and ratios ---
echo
echo "ResNet-50 ${SIZE}x${SIZE} on the CPU, $THREADS threads, medians of $ROUNDS rounds of" \
  "${SECONDS_PER_RUN}s per row ($(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p' | head -1))"
"$PY" "$PEERS_PY" report --results "$RESULTS" --out "$WORK/summary.json" --image-size "$SIZE" \
  --threads "$THREADS" --seconds-per-run "$SECONDS_PER_RUN" --failed "$FAILED" \
  --prepared "$MODEL/prepared.json"
echo "all figures: $WORK/summary.json; OpenVINO per-layer tables: $WORK/perf/"
if [[ -s "$FAILED" ]]; then
  log "$(wc -l <"$FAILED") row(s) failed; their figures are left out:"
  sed 's/^/  /' "$FAILED" >&2
  exit 1
fi
