#!/usr/bin/env bash
# INT8 accuracy table: for each model, train it on Fashion-MNIST with `scaledl train`, then
# `scaledl infer --precision int8` (entropy calibration on CALIB_IMAGES training images) scores
# int8 and fp32 on the 10,000 test images: top-1, top-5 and the int8 - fp32 difference.
#
# Data: bench/fmnist_to_npy.py writes the IDX files as npy:FILE arrays (float32 [N, 1, S, S],
# (pixel/255 - 0.2860)/0.3530, labels in *.labels.npy), once per size into WORK/data<S>:
#   SIZE (32): every model that fits it; 28 -> SIZE by zero padding (black pixels) around the
#     centred image when PAD=1 (default), else bilinear resizing;
#   BIG_SIZE (63): models that do not fit SIZE (AlexNet needs 63), bilinear 28 -> BIG_SIZE.
# Training: SGD momentum 0.9, cosine schedule, linear warmup over the first 10% of the steps,
# no augmentation, no evaluation while training (the infer pass scores fp32 on the test set).
# Steps per model (below, sized for ~2 minutes each on 2 idle AVX2 cores; every model sees
# only part of an epoch) are multiplied by SCALE, or set per model by STEPS.
# OMP_WAIT_POLICY=passive (unless set): on shared cores spinning OpenMP threads collapse.
#
# Time: about 25 minutes on 2 idle cores for the seven default models (training ~15, infer
# ~10); twice that with a compile running beside it.
#
# Usage: bench/infer_accuracy.sh      (from anywhere; needs build/scaledl with train and infer)
# Environment: WORK (/tmp/scaledl-infer-accuracy), SCALEDL (build/scaledl), THREADS (2),
#   MODELS ("resnet50 resnet101 resnet152 vgg16 vgg19 googlenet alexnet"), SCALE (1: factor on
#   the default steps), STEPS ("" or e.g. "resnet50=400 vgg16=100": per-model steps, not
#   scaled), SIZE (32), PAD (1), BIG_SIZE (63), CALIB_IMAGES (500),
#   CALIB_METHOD (entropy), INFER_BATCH (64), SEED (1), DATA (/usr/share/datasets/fashion-mnist),
#   RETRAIN (0: reuse WORK/runs/M/checkpoint.safetensors when its summary says the same steps).
# Output: per-model logs in WORK/logs, runs in WORK/runs/M and WORK/infer/M-int8, the markdown
# table on stdout at the end, and WORK/accuracy.json.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="${WORK:-/tmp/scaledl-infer-accuracy}"
SCALEDL="${SCALEDL:-build/scaledl}"
THREADS="${THREADS:-2}"
MODELS="${MODELS:-resnet50 resnet101 resnet152 vgg16 vgg19 googlenet alexnet}"
SCALE="${SCALE:-1}"
STEPS="${STEPS:-}"
SIZE="${SIZE:-32}"
PAD="${PAD:-1}"
BIG_SIZE="${BIG_SIZE:-63}"
CALIB_IMAGES="${CALIB_IMAGES:-500}"
CALIB_METHOD="${CALIB_METHOD:-entropy}"
INFER_BATCH="${INFER_BATCH:-64}"
SEED="${SEED:-1}"
DATA="${DATA:-/usr/share/datasets/fashion-mnist}"
RETRAIN="${RETRAIN:-0}"
PY="${PY:-$ROOT/.venv-infer/bin/python}"
[[ -x "$PY" ]] || PY="$(bench/infer_venv.sh)/bin/python"

export OMP_NUM_THREADS="$THREADS" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
log() { echo "[accuracy] $(date +%H:%M:%S) $*" >&2; }

# model -> "steps batch lr", sized for ~2 minutes each on 2 idle AVX2 cores; training speed
# measured over 12-20 steps at 32x32 (AlexNet 63x63), batch 64: resnet50 146 img/s,
# resnet152 51, vgg16 21, vgg19 18, alexnet 77 (resnet101 and googlenet measured under load;
# estimated ~75 and ~100). VGG has no batch norm: lower lr, batch 32 for more steps.
defaults() {
  case "$1" in
    resnet50)  echo "250 64 0.05" ;;
    resnet101) echo "130 64 0.05" ;;
    resnet152) echo "90 64 0.05" ;;
    vgg16)     echo "90 32 0.02" ;;
    vgg19)     echo "80 32 0.02" ;;
    googlenet) echo "160 64 0.05" ;;
    alexnet)   echo "160 64 0.02" ;;
    *)         echo "200 64 0.05" ;;
  esac
}

mkdir -p "$WORK/logs" "$WORK/runs" "$WORK/infer"
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

fits() {  # fits MODEL SIZE: the registry builds MODEL at SIZE x SIZE
  "$SCALEDL" models --image-size "$2" --classes 10 2>/dev/null |
    awk -v m="$1" '$1 == m { bad = /does not fit/; found = 1 } END { exit (found && !bad) ? 0 : 1 }'
}

data_dir() {  # data_dir SIZE MODE: WORK/data<SIZE>-<MODE>, converted once
  local dir="$WORK/data$1-$2"
  if [[ ! -f "$dir/test.labels.npy" || ! -f "$dir/train.npy" || ! -f "$dir/test.npy" ]]; then
    log "converting Fashion-MNIST to ${1}x$1 ($2) in $dir"
    "$PY" bench/fmnist_to_npy.py --src "$DATA" --out "$dir" --size "$1" --mode "$2" >&2
  fi
  echo "$dir"
}

for m in $MODELS; do
  read -r steps batch lr <<<"$(defaults "$m")"
  steps="$(awk -v s="$steps" -v f="$SCALE" 'BEGIN { n = int(s * f + 0.5); print (n < 1 ? 1 : n) }')"
  for kv in $STEPS; do [[ "${kv%%=*}" == "$m" ]] && steps="${kv#*=}"; done
  if fits "$m" "$SIZE"; then
    size="$SIZE"; mode=bilinear; [[ "$PAD" == 1 && "$SIZE" -ge 28 ]] && mode=pad
  elif fits "$m" "$BIG_SIZE"; then
    size="$BIG_SIZE"; mode=bilinear
  else
    log "$m fits neither ${SIZE} nor ${BIG_SIZE} pixels; skipped"
    echo "{\"model\": \"$m\", \"error\": \"does not fit $SIZE or $BIG_SIZE\"}" >>"$RESULTS"
    continue
  fi
  dir="$(data_dir "$size" "$mode")"
  run="$WORK/runs/$m"
  # warmup: the first 10% of the steps, in epochs of 60000 images
  warmup="$(awk -v s="$steps" -v b="$batch" 'BEGIN { printf "%.5f", 0.1 * s * b / 60000 }')"
  done_steps="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps"])' \
    "$run/summary.json" 2>/dev/null || echo 0)"
  if [[ "$RETRAIN" == 1 || "$done_steps" != "$steps" || ! -f "$run/checkpoint.safetensors" ]]; then
    rm -rf "$run"
    log "train $m: ${size}x$size ($mode), $steps steps of $batch, lr $lr, warmup $warmup epochs"
    if ! "$SCALEDL" train --model "$m" --data "npy:$dir/train.npy" --eval-data "npy:$dir/test.npy" \
        --no-eval --no-flip --batch "$batch" --steps "$steps" --lr "$lr" --schedule cosine \
        --warmup-epochs "$warmup" --threads "$THREADS" --seed "$SEED" --log-every 10 \
        --run-dir "$run" >"$WORK/logs/$m-train.log" 2>&1; then
      err="$(grep -m1 'error' "$WORK/logs/$m-train.log" || tail -1 "$WORK/logs/$m-train.log")"
      log "train $m failed: $err"
      "$PY" -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "error": "train: " + sys.argv[2]}))' \
        "$m" "$err" >>"$RESULTS"
      continue
    fi
  else
    log "train $m: reusing $run ($steps steps)"
  fi
  out="$WORK/infer/$m-int8"
  rm -rf "$out"
  log "infer $m: int8 ($CALIB_METHOD, $CALIB_IMAGES calibration images) and fp32 on the test set"
  ierr=""
  if ! "$SCALEDL" infer --checkpoint "$run/checkpoint.safetensors" --precision int8 \
      --calib-data "npy:$dir/train.npy" --calib-images "$CALIB_IMAGES" --calib-method "$CALIB_METHOD" \
      --data "npy:$dir/test.npy" --batch "$INFER_BATCH" --threads "$THREADS" --run-dir "$out" \
      >"$WORK/logs/$m-infer.log" 2>&1; then
    ierr="$(grep -m1 'error' "$WORK/logs/$m-infer.log" || tail -1 "$WORK/logs/$m-infer.log")"
    log "infer $m failed: $ierr"
  fi
  tail -4 "$WORK/logs/$m-infer.log" >&2 || true
  "$PY" - "$m" "$size" "$mode" "$steps" "$batch" "$lr" "$run/summary.json" "$out/summary.json" "$ierr" \
    >>"$RESULTS" <<'EOF'
import json, sys
m, size, mode, steps, batch, lr, train_path, infer_path, ierr = sys.argv[1:]
t = json.load(open(train_path))
r = {"model": m, "image_size": int(size), "resize": mode, "steps": int(steps), "batch": int(batch),
     "lr": float(lr), "epochs": t.get("epochs"), "train_seconds": t.get("wall_seconds"),
     "train_images_per_sec": t.get("images_per_sec"), "final_loss": t.get("final_loss")}
if ierr:
    r["error"] = "infer: " + ierr
else:
    s = json.load(open(infer_path))
    for k in ("top1", "top5", "fp32_top1", "fp32_top5", "top1_delta", "top5_delta",
              "nodes_not_quantized"):
        r[k] = s.get(k)
print(json.dumps(r))
EOF
done

"$PY" - "$RESULTS" "$WORK/accuracy.json" "$CALIB_IMAGES" "$CALIB_METHOD" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
json.dump({"calib_images": int(sys.argv[3]), "calib_method": sys.argv[4], "models": rows},
          open(sys.argv[2], "w"), indent=1)
def pct(v):  # scaledl infer reports percent
    return "-" if v is None else f"{v:.2f}"
def dl(v):  # points
    return "-" if v is None else f"{v:+.2f}"
print("| model | size | steps (epochs) | train s | FP32 top-1 | INT8 top-1 | Δ top-1 | FP32 top-5 | INT8 top-5 | Δ top-5 |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    if "top1" not in r:
        print(f"| {r['model']} | {r.get('image_size', '-')} | {r.get('steps', '-')} | - | failed: {r.get('error')} |||||")
        continue
    print(f"| {r['model']} | {r['image_size']} | {r['steps']} ({r['epochs']:.2f}) | {r['train_seconds']:.0f} | "
          f"{pct(r['fp32_top1'])} | {pct(r['top1'])} | {dl(r['top1_delta'])} | "
          f"{pct(r['fp32_top5'])} | {pct(r['top5'])} | {dl(r['top5_delta'])} |")
EOF
log "wrote $WORK/accuracy.json"
