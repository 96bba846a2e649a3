#!/usr/bin/env bash
# A QDQ model made by someone else, run by us: ONNX Runtime's static int8 quantization of a
# ResNet-50 (QuantizeLinear/DequantizeLinear around every convolution, per-channel int8 weights,
# uint8 activations, entropy-calibrated by ORT on 100 photographs) run by `scaledl infer --onnx
# --precision int8` with the file's own scales, against ONNX Runtime running the same file.
#
#   model   bench/infer_peers.py's recipe (torchvision resnet50 under a fixed seed, random BN
#           affine, BN statistics measured on the images), made by bench/onnx_qdq_resnet50.py
#           prepare with photographs in place of infer_peers' synthetic images: the scaledl
#           checkpoint, its ONNX export and ORT's QDQ quantization of it.
#   photos  1,100 JPEGs of bench/make_jpeg_set.py (Debian's wallpaper photographs, random
#           crops), shorter side 256, centre crop 224, ImageNet mean/std: the first 100 calibrate
#           (ORT's quantization and our checkpoint row), the next 1,000 are scored.
#   agreement  ours' int8 logits on the 1,000 against ORT's (its graph optimizations on: the
#           fused integer kernels users get): the fraction of images whose argmax agrees (target
#           >= 99%) and the mean cosine of the logit rows (target >= 0.9995). Beside it, as the
#           noise floor, ORT int8 against ORT fp32: random weights leave the top logits nearly
#           tied, so an argmax flips under any rounding difference and a low agreement there
#           says so. Also ORT with its optimizations off (the QDQ graph's own float arithmetic)
#           and ours fp32 (`--onnx` on the fp32 file) against ORT fp32 (the import itself).
#   speed   int8 images/s at batch 32, SECONDS_PER_RUN timed seconds per row, ROUNDS rounds
#           alternated (odd rounds in this order, even reversed), medians:
#             ours-onnx-int8  scaledl infer --onnx resnet50_int8_qdq.onnx --precision int8
#             ours-ckpt-int8  scaledl infer --checkpoint resnet50.safetensors --precision int8,
#                             entropy-calibrated by us on the same 100 photos (infer_cpu.sh's row)
#             ort-int8        ONNX Runtime on the QDQ file (bench/infer_peers.py run)
#
# Run it on an otherwise idle machine (OpenMP threads collapse on shared cores). The peers
# come from the venv of bench/infer_venv.sh (.venv-infer); the photos need
#   apt-get install -y --no-install-recommends plasma-workspace-wallpapers
# Photos and model are made once into WORK (a few minutes) and reused.
#
# Usage: bench/onnx_qdq_resnet50.sh       (from anywhere; needs build/scaledl with `infer --onnx`)
#        PREPARE_ONLY=1 bench/onnx_qdq_resnet50.sh   (photos and model only)
# Environment: WORK (/tmp/scaledl-onnx-qdq-bench), SCALEDL (build/scaledl), THREADS (2),
#   ROUNDS (3), SECONDS_PER_RUN (10), BATCH (32), IMAGES (1000), CALIB_IMAGES (100), SEED (0),
#   ONNX_FP32 (1: also ours fp32 on the fp32 file), PREPARE_ONLY (0).
# Output: the figures on stdout, WORK/summary.json; exit 1 when a row failed (left out).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="${WORK:-/tmp/scaledl-onnx-qdq-bench}"
SCALEDL="${SCALEDL:-build/scaledl}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
BATCH="${BATCH:-32}"
IMAGES="${IMAGES:-1000}"
CALIB_IMAGES="${CALIB_IMAGES:-100}"
SEED="${SEED:-0}"
ONNX_FP32="${ONNX_FP32:-1}"
PREPARE_ONLY="${PREPARE_ONLY:-0}"
PREPARE_FORMAT=1  # bench/onnx_qdq_resnet50.py PREPARE_FORMAT
JPEG_SEED=1
JPEG_QUALITY=95   # fixed: skips make_jpeg_set.py's size calibration; only the pixels matter here
PHOTOS="$WORK/photos"
MODEL="$WORK/model"
LOGITS="$WORK/logits"
RESULTS="$WORK/results.jsonl"
FAILED="$WORK/failed.txt"
QDQ_PY="$ROOT/bench/onnx_qdq_resnet50.py"
PEERS_PY="$ROOT/bench/infer_peers.py"

export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"

log() { echo "[bench] $*" >&2; }

if [[ "$PREPARE_ONLY" != 1 ]] && ! "$SCALEDL" infer --help 2>&1 | grep -q -- --onnx; then
  log "$SCALEDL has no 'infer --onnx'; build it (scripts/setup) or set SCALEDL,"
  log "or make the photos and model alone with PREPARE_ONLY=1"
  exit 2
fi

PY="$(bench/infer_venv.sh)/bin/python"
mkdir -p "$WORK/runs" "$WORK/logs" "$LOGITS"

# --- photos and model, once ---
json_is() {  # FILE PYTHON-EXPR: true when the expression on the file's JSON (as d) holds
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$1" "$2" 2>/dev/null
}
total=$((CALIB_IMAGES + IMAGES))
if ! json_is "$PHOTOS/photos.json" "d['calib_images'] == $CALIB_IMAGES and d['images'] == $IMAGES"; then
  if ! json_is "$WORK/jpeg/stats.json" "d['images'] == $total and d['seed'] == $JPEG_SEED"; then
    log "making $total JPEGs in $WORK/jpeg (bench/make_jpeg_set.py, a few minutes, once)"
    rm -rf "$WORK/jpeg"
    "$PY" bench/make_jpeg_set.py --out "$WORK/jpeg" --images "$total" --seed "$JPEG_SEED" \
      --quality "$JPEG_QUALITY" >"$WORK/logs/jpeg.log" 2>&1 || { tail -5 "$WORK/logs/jpeg.log" >&2; exit 1; }
  fi
  log "preprocessing the photos into $PHOTOS"
  "$PY" "$QDQ_PY" photos --jpeg "$WORK/jpeg" --out "$PHOTOS" --calib-images "$CALIB_IMAGES" \
    --images "$IMAGES" 2>&1 | sed 's/^/  /' >&2
  rm -rf "$MODEL"  # made from other photos
fi
if ! json_is "$MODEL/prepared.json" \
    "d['prepare_format'] == $PREPARE_FORMAT and d['seed'] == $SEED and d['calib_images'] == $CALIB_IMAGES"; then
  log "preparing the model in $MODEL (export, ORT's int8 calibration: a few minutes, once)"
  rm -f "$LOGITS"/*.npy
  "$PY" "$QDQ_PY" prepare --out "$MODEL" --photos "$PHOTOS" --seed "$SEED" \
    >"$WORK/logs/prepare.log" 2>&1 || { tail -30 "$WORK/logs/prepare.log" >&2; exit 1; }
fi
"$PY" -c 'import json,sys; p=json.load(open(sys.argv[1]))
print("[bench] model:", sys.argv[1], "- ORT against torch: fp32", p["ort_fp32_vs_torch"],
      "int8", p["ort_int8_vs_torch"], file=sys.stderr)' "$MODEL/prepared.json"
[[ "$PREPARE_ONLY" == 1 ]] && { log "PREPARE_ONLY=1: photos and model ready in $WORK"; exit 0; }

: >"$RESULTS"
: >"$FAILED"
fail() {  # what, log: the row is left out of the figures, the run goes on
  log "FAILED: $1 (last lines of $2:)"
  tail -15 "$2" >&2 || true
  echo "$1 (log: $2)" >>"$FAILED"
}

# --- logits on the 1,000 photos ---
ort_logits() {  # name model opt
  [[ -f "$LOGITS/$1.npy" ]] && return 0  # the model and photos are fixed: reused
  "$PY" "$QDQ_PY" logits --model "$MODEL/$2" --data "$PHOTOS/eval.npy" --out "$LOGITS/$1.npy" \
    --threads "$THREADS" --batch "$BATCH" --opt "$3" >"$WORK/logs/$1.log" 2>&1 ||
    fail "$1 logits" "$WORK/logs/$1.log"
}
ours_logits() {  # name model precision
  local run="$WORK/runs/$1-acc"
  rm -rf "$run" "$LOGITS/$1.npy"
  log "$1: scaledl infer --onnx $2 --precision $3 on $IMAGES photos"
  "$SCALEDL" infer --onnx "$MODEL/$2" --precision "$3" --data "npy:$PHOTOS/eval.npy" \
    --batch "$BATCH" --threads "$THREADS" --run-dir "$run" --save-logits "$LOGITS/$1.npy" \
    >"$WORK/logs/$1.log" 2>&1 || fail "$1 (accuracy pass)" "$WORK/logs/$1.log"
}
log "ONNX Runtime's logits on $IMAGES photos (fp32, int8, int8 without graph optimizations)"
ort_logits ort_fp32 resnet50.onnx all
ort_logits ort_int8 resnet50_int8_qdq.onnx all
ort_logits ort_int8_noopt resnet50_int8_qdq.onnx none
ours_logits ours_onnx_int8 resnet50_int8_qdq.onnx int8
[[ "$ONNX_FP32" == 1 ]] && ours_logits ours_onnx_fp32 resnet50.onnx fp32

# --- speed rows ---
# Tags a JSON row on stdin with its name and round and appends it to RESULTS.
record() {  # name round
  "$PY" -c 'import json,sys
r = json.loads(sys.stdin.read().strip().splitlines()[-1])
r["name"], r["round"] = sys.argv[2], int(sys.argv[3])
print(json.dumps(r), file=open(sys.argv[1], "a"))
print("[bench]   %(name)s: %(images_per_sec).1f img/s, p50 %(p50_ms).1f ms" % r, file=sys.stderr)' \
    "$RESULTS" "$1" "$2"
}
ours_row() {  # name round scaledl-flags...
  local name=$1 round=$2 run="$WORK/runs/$1-r$2" logf="$WORK/logs/$1-r$2.log"
  shift 2
  rm -rf "$run"
  log "round $round: $name"
  if "$SCALEDL" infer "$@" --precision int8 --batch "$BATCH" --seconds "$SECONDS_PER_RUN" \
      --threads "$THREADS" --run-dir "$run" >"$logf" 2>&1 && [[ -f "$run/summary.json" ]]; then
    "$PY" -c 'import json,sys
s = json.load(open(sys.argv[1])); b = sys.argv[2]; lat = s["latency_ms"][b]
print(json.dumps({"batch": int(b), "images_per_sec": s["images_per_sec"][b], "p50_ms": lat["p50"],
                  "p90_ms": lat["p90"], "p99_ms": lat["p99"]}))' "$run/summary.json" "$BATCH" |
      record "$name" "$round" || fail "$name round $round (summary.json)" "$logf"
  else
    fail "$name round $round" "$logf"
  fi
}
ort_row() {  # round
  local logf="$WORK/logs/ort-int8-r$1.log" line
  log "round $1: ort-int8"
  if line="$("$PY" "$PEERS_PY" run --dir "$MODEL" --peer ort-int8 --batch "$BATCH" \
      --seconds "$SECONDS_PER_RUN" --threads "$THREADS" --json 2>"$logf")"; then
    record ort-int8 "$1" <<<"$line"
  else
    fail "ort-int8 round $1" "$logf"
  fi
}
row() {  # name round
  case $1 in
  ours-onnx-int8) ours_row "$1" "$2" --onnx "$MODEL/resnet50_int8_qdq.onnx" ;;
  ours-ckpt-int8) ours_row "$1" "$2" --checkpoint "$MODEL/resnet50.safetensors" \
    --calib-data "npy:$MODEL/calib.npy" --calib-images "$CALIB_IMAGES" --calib-method entropy ;;
  ort-int8) ort_row "$2" ;;
  esac
}
ROWS=(ours-onnx-int8 ours-ckpt-int8 ort-int8)
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2 == 1)); then order=("${ROWS[@]}"); else order=(ort-int8 ours-ckpt-int8 ours-onnx-int8); fi
  for r in "${order[@]}"; do row "$r" "$round"; done
done

# --- figures ---
echo
echo "ResNet-50 QDQ (ONNX Runtime's static int8) run by scaledl and ONNX Runtime, $THREADS" \
  "threads ($(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p' | head -1))"
"$PY" "$QDQ_PY" report --work "$WORK" --results "$RESULTS" --failed "$FAILED" --images "$IMAGES" \
  --batch "$BATCH" --threads "$THREADS" --seconds-per-run "$SECONDS_PER_RUN" \
  --scaledl-version "$("$SCALEDL" --version 2>/dev/null | head -1)"
if [[ -s "$FAILED" ]]; then
  log "$(wc -l <"$FAILED") row(s) failed; their figures are left out:"
  sed 's/^/  /' "$FAILED" >&2
  exit 1
fi
