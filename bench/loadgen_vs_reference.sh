#!/usr/bin/env bash
# MLPerf Inference's ResNet-50 scenarios, Offline and Server, under the real MLPerf LoadGen
# (mlcommons-loadgen 6.0.17), `scaledl loadgen` against MLPerf's reference-style harness: the
# LoadGen Python bindings driving ONNX Runtime, as the MLPerf reference implementation's ONNX
# Runtime backend does. Same weights, same photographs, same user.conf, 2 threads each.
#
#   model    bench/infer_peers.py's ResNet-50 (fixed-seed torchvision init, random BN affine,
#            BN statistics measured on the photos) made by bench/loadgen_reference.py prepare:
#            resnet50.safetensors (ours), resnet50.onnx (ORT fp32) and resnet50_int8_qdq.onnx
#            (ORT's static QDQ int8, entropy-calibrated on the 100 calibration photos).
#   photos   1,124 JPEGs of bench/make_jpeg_set.py (Debian's wallpaper photographs, random
#            crops); shorter side 256, centre crop 224, ImageNet mean/std, float32 NCHW npy:
#            the first 100 calibrate (ORT's QDQ model and ours int8), the next 1,024 are the QSL
#            (photos.npy [1024,3,224,224], performance_sample_count 1024).
#   rows     ref-fp32, ref-int8   bench/loadgen_reference.py: QSL = the photos in memory; SUT
#                                 = IssueQuery cuts queries into batches of 32 (Offline's one
#                                 query -> 32 at a time; Server queries, one sample each, run
#                                 as they come), one worker runs them on one ORT session
#                                 (intra_op_num_threads 2) and answers QuerySamplesComplete
#                                 with each sample's argmax class as a float32.
#            ours-fp32            scaledl loadgen --checkpoint resnet50.safetensors
#            ours-int8            ... --precision int8 --calib-data npy:calib.npy
#                                     --calib-images 100
#   figures  Offline: LoadGen's samples/s, ROUNDS rounds alternated (odd rounds in the order
#            above, even rounds reversed), medians.
#            Server: the peak QPS whose run LoadGen calls VALID at the latency bound (p99 <=
#            LATENCY_MS). The reference: our bisection (bench/loadgen_reference.py peak): a first
#            rate near 1 / its batch-1 latency, x1.5 up while VALID or /1.5 down while INVALID,
#            then halving [highest VALID, lowest INVALID] until within TOLERANCE (5%); when a
#            single image alone takes longer than the bound no rate can be VALID: one LoadGen
#            run at half the serial capacity confirms it and the peak is 0. Ours:
#            scaledl loadgen --scenario Server --find-peak-qps (scaledl's own search over
#            LoadGen runs, not LoadGen's --mode find-peak: halve until VALID, double until
#            INVALID, bisect to 2%), starting at PEAK_START x our Offline median, then one more
#            run at the peak.
#            Ratios: ours / reference at each precision, Offline and Server (target >= 1.5x);
#            ours Server peak / our Offline samples/s (target >= 0.8).
#            Accuracy (ACCURACY=1): one Offline accuracy run per row (every QSL photo once);
#            the argmax agreement of ours fp32 with ORT fp32 checks ours' response data (should
#            be ~100%); int8 rows are calibrated differently, and random weights leave the top
#            logits nearly tied, so int8 agreement is low by nature (ORT int8 against ORT fp32
#            is printed beside it as the noise floor).
#
# user.conf (WORK/user.conf, one for both harnesses; LoadGen first applies its own mlperf.conf
# for "resnet50", then this; MLPerf's own values in brackets):
#   *.Offline.min_duration = 10000        10 s  [600 s]                    (MIN_DURATION_S)
#   *.Offline.min_query_count = 1024      samples in Offline's one query [24576]  (OFFLINE_SAMPLES)
#   *.Offline.target_qps = 1              expected QPS: 1.1 x 10 s x 1 < 1024, so the query is
#                                         min_query_count samples for every row alike
#   *.Server.min_duration = 10000         10 s  [600 s]
#   *.Server.min_query_count = 662        [270336]                         (SERVER_QUERIES)
#   *.Server.target_latency = 15          ms, MLPerf's ResNet-50 bound     (LATENCY_MS)
#   *.Server.target_latency_percentile = 99
#   *.*.performance_sample_count_override = 1024
# 662 Server queries, not fewer: LoadGen's early stopping (99% confidence that p99 <= bound)
# fails a Server run of under 459 queries whatever its latencies; 662 let one query exceed the
# bound (1,001: three). An Offline row faster than 1024 / 10 s = 102 samples/s would miss
# min_duration (INVALID, its samples/s still measured): raise OFFLINE_SAMPLES then.
#
# On a small CPU the 15 ms bound can be out of reach for everyone: 2 threads of ResNet-50 take
# 50-150 ms an image on a 2-core AVX2 machine; every Server peak is then 0 and the Server ratios
# n/a (the reference's search sees it from one image's latency and stops after one confirming
# run; ours' --find-peak-qps halves its rate toward 0.001 QPS, each probe SERVER_QUERIES / rate
# seconds, until SERVER_TIMEOUT_S ends it). LATENCY_MS sets another bound (the same for both
# harnesses, printed with the figures). Server runs are long at low rates: a search is several
# runs of SERVER_QUERIES / rate seconds each.
#
# Run it on an otherwise idle machine (OpenMP threads collapse on shared cores). The reference
# comes from the venv of bench/infer_venv.sh (.venv-infer) plus mlcommons-loadgen==6.0.17 (a
# wheel from PyPI, or built from its source with pybind11 where there is none). The photos need
#   apt-get install -y --no-install-recommends plasma-workspace-wallpapers
# Photos and model are made once into WORK (a few minutes) and reused.
#
# Usage: bench/loadgen_vs_reference.sh          (from anywhere; needs build/scaledl with `loadgen`)
#        REF_ONLY=1 bench/loadgen_vs_reference.sh   (the reference rows alone)
#        quick look: ROUNDS=1 OFFLINE_SAMPLES=256 MIN_DURATION_S=2 SERVER_QUERIES=459
#                    TOLERANCE=0.15 ACCURACY=0 bench/loadgen_vs_reference.sh
# Environment: WORK (/tmp/scaledl-loadgen-bench), SCALEDL (build/scaledl), THREADS (2),
#   ROUNDS (3), MIN_DURATION_S (10), OFFLINE_SAMPLES (1024), SERVER_QUERIES (662),
#   LATENCY_MS (15), TOLERANCE (0.05), MAX_SEARCH_RUNS (12), PEAK_START (0.5), BATCH (32),
#   IMAGES (1024), CALIB_IMAGES (100), SEED (0), PRECISIONS ("fp32 int8"), SERVER (1),
#   ACCURACY (1), REF_ONLY (0), OURS_FLAGS (extra flags for every scaledl loadgen run),
#   OURS_SERVER_FLAGS (extra flags for ours' Server run, e.g. "--max-batch 8 --max-wait-ms 5"),
#   SERVER_TIMEOUT_S (2400: the most seconds ours' whole Server search may take).
# Output: the figures on stdout, WORK/summary.json, each run's LoadGen logs under WORK/runs/;
#   exit 1 when a row failed (its figures left out).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="${WORK:-/tmp/scaledl-loadgen-bench}"
SCALEDL="${SCALEDL:-build/scaledl}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
MIN_DURATION_S="${MIN_DURATION_S:-10}"
OFFLINE_SAMPLES="${OFFLINE_SAMPLES:-1024}"
SERVER_QUERIES="${SERVER_QUERIES:-662}"
LATENCY_MS="${LATENCY_MS:-15}"
TOLERANCE="${TOLERANCE:-0.05}"
MAX_SEARCH_RUNS="${MAX_SEARCH_RUNS:-12}"
PEAK_START="${PEAK_START:-0.5}"
SERVER_TIMEOUT_S="${SERVER_TIMEOUT_S:-2400}"
BATCH="${BATCH:-32}"
IMAGES="${IMAGES:-1024}"
CALIB_IMAGES="${CALIB_IMAGES:-100}"
SEED="${SEED:-0}"
PRECISIONS="${PRECISIONS:-fp32 int8}"
SERVER="${SERVER:-1}"
ACCURACY="${ACCURACY:-1}"
REF_ONLY="${REF_ONLY:-0}"
OURS_FLAGS="${OURS_FLAGS:-}"
OURS_SERVER_FLAGS="${OURS_SERVER_FLAGS:-}"
LOADGEN_PIN=mlcommons-loadgen==6.0.17
PREPARE_FORMAT=1  # bench/loadgen_reference.py PREPARE_FORMAT
JPEG_SEED=1
JPEG_QUALITY=95   # fixed: skips make_jpeg_set.py's size calibration; only the pixels matter here
PHOTOS="$WORK/photos"
MODEL="$WORK/model"
CONF="$WORK/user.conf"
RESULTS="$WORK/results.jsonl"
FAILED="$WORK/failed.txt"
REF_PY="$ROOT/bench/loadgen_reference.py"

export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"

log() { echo "[bench] $*" >&2; }

if [[ "$REF_ONLY" != 1 ]] && ! "$SCALEDL" loadgen --help >/dev/null 2>&1; then
  log "$SCALEDL has no working 'loadgen' subcommand; build it (scripts/setup) or set SCALEDL,"
  log "or run the reference alone with REF_ONLY=1"
  exit 2
fi

# --- the venv: bench/infer_venv.sh's, plus LoadGen's Python bindings ---
VENV="$(bench/infer_venv.sh)"
# shellcheck source=../scripts/lib/venv.sh
source "$ROOT/scripts/lib/venv.sh"
ensure_venv "$VENV" "$LOADGEN_PIN"
PY="$VENV/bin/python"
mkdir -p "$WORK/runs" "$WORK/logs" "$WORK/accuracy"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- photos and model, once ---
json_is() {  # FILE PYTHON-EXPR: true when the expression on the file's JSON (as d) holds
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$1" "$2" 2>/dev/null
}
total=$((CALIB_IMAGES + IMAGES))
if ! json_is "$PHOTOS/photos.json" "d['calib_images'] == $CALIB_IMAGES and d['images'] == $IMAGES"; then
  if ! json_is "$WORK/jpeg/stats.json" "d['images'] == $total and d['seed'] == $JPEG_SEED"; then
    log "making $total JPEGs in $WORK/jpeg (bench/make_jpeg_set.py, about a minute, once)"
    rm -rf "$WORK/jpeg"
    "$PY" bench/make_jpeg_set.py --out "$WORK/jpeg" --images "$total" --seed "$JPEG_SEED" \
      --quality "$JPEG_QUALITY" >"$WORK/logs/jpeg.log" 2>&1 || { tail -5 "$WORK/logs/jpeg.log" >&2; exit 1; }
  fi
  log "preprocessing the photos into $PHOTOS"
  "$PY" "$REF_PY" photos --jpeg "$WORK/jpeg" --out "$PHOTOS" --calib-images "$CALIB_IMAGES" \
    --images "$IMAGES" 2>&1 | sed 's/^/  /' >&2
  rm -rf "$MODEL"  # made from other photos
fi
if ! json_is "$MODEL/prepared.json" \
    "d['prepare_format'] == $PREPARE_FORMAT and d['seed'] == $SEED and d['calib_images'] == $CALIB_IMAGES"; then
  log "preparing the model in $MODEL (export, ORT's int8 calibration: a minute or two, once)"
  "$PY" "$REF_PY" prepare --out "$MODEL" --photos "$PHOTOS" --seed "$SEED" \
    >"$WORK/logs/prepare.log" 2>&1 || { tail -30 "$WORK/logs/prepare.log" >&2; exit 1; }
fi
"$PY" -c 'import json,sys; p=json.load(open(sys.argv[1]))
print("[bench] model:", sys.argv[1], "- ORT against torch: fp32", p["ort_fp32_vs_torch"],
      "int8", p["ort_int8_vs_torch"], file=sys.stderr)' "$MODEL/prepared.json"

# --- user.conf: one for both harnesses ---
cat >"$CONF" <<EOF
# bench/loadgen_vs_reference.sh: shortened MLPerf runs, the same for both harnesses.
# LoadGen applies its mlperf.conf (model resnet50) first, then this file.
*.Offline.min_duration = $((MIN_DURATION_S * 1000))
*.Offline.min_query_count = $OFFLINE_SAMPLES
*.Offline.target_qps = 1
*.Server.min_duration = $((MIN_DURATION_S * 1000))
*.Server.min_query_count = $SERVER_QUERIES
*.Server.target_latency = $LATENCY_MS
*.Server.target_latency_percentile = 99
*.*.performance_sample_count_override = $IMAGES
EOF
log "user.conf ($CONF):"
grep -v '^#' "$CONF" | sed 's/^/  /' >&2

: >"$RESULTS"
: >"$FAILED"
fail() {  # what, log: the row is left out of the figures, the run goes on
  log "FAILED: $1 (last lines of $2:)"
  tail -15 "$2" >&2 || true
  echo "$1 (log: $2)" >>"$FAILED"
}
collect() {  # dir name kind round log
  "$PY" "$REF_PY" collect --dir "$1" --name "$2" --kind "$3" --round "$4" --results "$RESULTS" ||
    fail "$2 $3 round $4 (its figures)" "$5"
}

# --- one run of either harness ---
ref_model() { [[ "$1" == int8 ]] && echo "$MODEL/resnet50_int8_qdq.onnx" || echo "$MODEL/resnet50.onnx"; }
ours_model_flags() {  # precision
  echo --checkpoint "$MODEL/resnet50.safetensors" --precision "$1"
  [[ "$1" == int8 ]] && echo --calib-data "npy:$PHOTOS/calib.npy" --calib-images "$CALIB_IMAGES"
  return 0
}
ref_run() {  # precision scenario mode dir log
  "$PY" "$REF_PY" run --model "$(ref_model "$1")" --data "$PHOTOS/photos.npy" --scenario "$2" \
    --mode "$3" --user-conf "$CONF" --output "$4" --threads "$THREADS" --batch "$BATCH" \
    --performance-count "$IMAGES" >"$5" 2>&1
}
ours_run() {  # precision scenario mode dir log extra-flags...
  local prec=$1 scen=$2 mode=$3 dir=$4 logf=$5
  shift 5
  # shellcheck disable=SC2046,SC2086
  $SCALEDL loadgen --scenario "$scen" --mode "$mode" $(ours_model_flags "$prec") \
    --data "npy:$PHOTOS/photos.npy" --user-conf "$CONF" --threads "$THREADS" --output "$dir" \
    $OURS_FLAGS "$@" >"$logf" 2>&1
}
offline_row() {  # name round
  local name=$1 round=$2 harness=${1%%-*} prec=${1#*-}
  local dir="$WORK/runs/offline-$1-r$2" logf="$WORK/logs/offline-$1-r$2.log"
  rm -rf "$dir"
  log "round $round: $name Offline ($OFFLINE_SAMPLES samples)"
  if [[ "$harness" == ref ]]; then
    ref_run "$prec" Offline performance "$dir" "$logf" || { fail "$name Offline round $round" "$logf"; return 0; }
  else
    ours_run "$prec" Offline performance "$dir" "$logf" --max-batch "$BATCH" ||
      { fail "$name Offline round $round" "$logf"; return 0; }
  fi
  collect "$dir" "$name" offline "$round" "$logf"
}
accuracy_row() {  # name
  local name=$1 harness=${1%%-*} prec=${1#*-}
  local dir="$WORK/accuracy/$1" logf="$WORK/logs/accuracy-$1.log"
  rm -rf "$dir"
  log "$name: Offline accuracy run ($IMAGES photos)"
  if [[ "$harness" == ref ]]; then
    ref_run "$prec" Offline accuracy "$dir" "$logf" || { fail "$name accuracy" "$logf"; return 0; }
  else
    ours_run "$prec" Offline accuracy "$dir" "$logf" --max-batch "$BATCH" ||
      { fail "$name accuracy" "$logf"; return 0; }
  fi
  collect "$dir" "$name" accuracy 1 "$logf"
}
offline_median() {  # name: the median Offline samples/s so far (empty when none)
  "$PY" -c 'import json,sys,statistics
v = [r["samples_per_second"] for r in map(json.loads, open(sys.argv[1]))
     if r["name"] == sys.argv[2] and r["kind"] == "offline" and r.get("samples_per_second")]
print(statistics.median(v) if v else "")' "$RESULTS" "$1"
}
server_row() {  # name
  local name=$1 harness=${1%%-*} prec=${1#*-}
  local dir="$WORK/runs/server-$1" logf="$WORK/logs/server-$1.log"
  rm -rf "$dir"
  if [[ "$harness" == ref ]]; then
    log "$name: Server peak search (bisection to ${TOLERANCE}, p99 <= $LATENCY_MS ms)"
    "$PY" "$REF_PY" peak --model "$(ref_model "$prec")" --data "$PHOTOS/photos.npy" \
      --user-conf "$CONF" --output "$dir" --threads "$THREADS" --batch "$BATCH" \
      --performance-count "$IMAGES" --tolerance "$TOLERANCE" --max-runs "$MAX_SEARCH_RUNS" \
      >"$logf" 2>&1 || { fail "$name Server peak search" "$logf"; return 0; }
    grep '^\[ref\]   Server at' "$logf" | sed 's/^\[ref\]/ /' >&2 || true
  else
    local off start
    off="$(offline_median "$name")"
    start="$("$PY" -c 'import sys; print(round(max(float(sys.argv[1] or 4) * float(sys.argv[2]), 0.1), 2))' \
      "$off" "$PEAK_START")"
    log "$name: Server --find-peak-qps from $start qps (p99 <= $LATENCY_MS ms)"
    # shellcheck disable=SC2086
    SCALEDL="timeout $SERVER_TIMEOUT_S $SCALEDL" ours_run "$prec" Server performance "$dir" \
      "$logf" --find-peak-qps --target-qps "$start" $OURS_SERVER_FLAGS ||
      { fail "$name Server --find-peak-qps (exit $?; 124: over SERVER_TIMEOUT_S)" "$logf"; return 0; }
    grep '^  probe:' "$logf" | sed 's/^/ /' >&2 || true
  fi
  collect "$dir" "$name" server 1 "$logf"
}

# --- the rows ---
ROWS=()
for prec in $PRECISIONS; do
  ROWS+=("ref-$prec")
  [[ "$REF_ONLY" == 1 ]] || ROWS+=("ours-$prec")
done
for ((round = 1; round <= ROUNDS; round++)); do
  order=("${ROWS[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#ROWS[@]} - 1; i >= 0; i--)); do order+=("${ROWS[i]}"); done
  fi
  for r in "${order[@]}"; do offline_row "$r" "$round"; done
done
if [[ "$SERVER" == 1 ]]; then
  for r in "${ROWS[@]}"; do server_row "$r"; done
fi
if [[ "$ACCURACY" == 1 ]]; then
  for r in "${ROWS[@]}"; do accuracy_row "$r"; done
fi

# --- figures ---
echo
echo "ResNet-50 under MLPerf LoadGen ($LOADGEN_PIN), scaledl loadgen against the reference" \
  "harness (LoadGen Python + ONNX Runtime), $THREADS threads ($(nproc) cores:" \
  "$(lscpu | sed -n 's/^Model name: *//p' | head -1)); load average at start $LOAD_START," \
  "at end $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$REF_PY" report --work "$WORK" --out "$WORK/summary.json" --user-conf "$CONF" \
  --threads "$THREADS" --batch "$BATCH" --rounds "$ROUNDS" --latency-ms "$LATENCY_MS" \
  --failed "$FAILED" --load-average "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  --scaledl-version "$( [[ "$REF_ONLY" == 1 ]] || "$SCALEDL" --version 2>/dev/null | head -1)"
echo "all figures: $WORK/summary.json; LoadGen's logs: $WORK/runs/, $WORK/accuracy/"
if [[ -s "$FAILED" ]]; then
  log "$(wc -l <"$FAILED") row(s) failed; their figures are left out:"
  sed 's/^/  /' "$FAILED" >&2
  exit 1
fi
