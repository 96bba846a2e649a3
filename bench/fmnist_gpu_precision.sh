#!/usr/bin/env bash
# Fashion-MNIST on one GPU in fp32, fp16 (dynamic loss scaling) and bf16: the quick start's
# recipe (resnet_small, 8 epochs, batch 128, seed 1), top-1 of each and its distance from fp32.
# Target: fp16 and bf16 within 0.3 points of fp32. Prints
#   fmnist_gpu_<precision>: top-1 X%, fp32 - this D points, Y img/s
# Usage: bench/fmnist_gpu_precision.sh   (on a GPU host)
# Environment: SCALEDL (build/scaledl or a bundle's launcher), DATA
#   (idx:/usr/share/datasets/fashion-mnist, or records:DIR packed from it), EPOCHS (8),
#   OUT (a folder for the runs), PYTHON (python3, reads summary.json).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCALEDL="${SCALEDL:-$ROOT/build/scaledl}"
DATA="${DATA:-idx:/usr/share/datasets/fashion-mnist}"
EPOCHS="${EPOCHS:-8}"
OUT="${OUT:-$(mktemp -d)}"
PYTHON="${PYTHON:-python3}"
[[ -x "$SCALEDL" ]] || { echo "fmnist_gpu_precision: error: no scaledl at $SCALEDL; set SCALEDL" >&2; exit 2; }
get() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
declare -A TOP IPS
for p in fp32 fp16 bf16; do
  rm -rf "$OUT/$p"
  "$SCALEDL" train --data "$DATA" --epochs "$EPOCHS" --device cuda --precision "$p" \
    --run-dir "$OUT/$p" >"$OUT/$p.log" 2>&1 || { tail -5 "$OUT/$p.log" >&2; exit 1; }
  TOP[$p]=$(get "$OUT/$p/summary.json" top1)
  IPS[$p]=$(get "$OUT/$p/summary.json" images_per_sec)
done
for p in fp32 fp16 bf16; do
  printf 'fmnist_gpu_%s: top-1 %.2f%%, fp32 - this %+.2f points, %.0f img/s\n' "$p" "${TOP[$p]}" \
    "$(awk -v a="${TOP[fp32]}" -v b="${TOP[$p]}" 'BEGIN {print a - b}')" "${IPS[$p]}"
done
