#!/usr/bin/env bash
# ResNet-50 training on one GPU, scaledl against PyTorch eager (torchvision resnet50,
# channels_last, torch.autocast + GradScaler for fp16, autocast for bf16), 224x224 synthetic
# data, the same batch, alternating for ROUNDS rounds in one run. Prints each round, then per
# precision
#   resnet50_gpu_<precision>_b<batch>: ours X img/s, peer torch-V Y img/s, ratio ours/peer Z
# and our fp16 over our fp32 (target: ours >= 1.0x PyTorch; our fp16 >= 2x our fp32).
#
# Runs on a GPU host: SCALEDL is a built binary or a bundle's launcher (scripts/bundle);
# python3 there must import torch and torchvision (PYTHON picks another).
# Usage: bench/resnet50_gpu.sh
# Environment: ROUNDS (3), PRECISIONS ("fp32 tf32 fp16 bf16"), BATCH (256; ours and torch
#   alike), STEPS (60 scaledl steps, the first tenth is warmup), TORCH_STEPS (50),
#   SCALEDL (build/scaledl), PYTHON (python3), OUT (a folder for the per-run summaries).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
PRECISIONS="${PRECISIONS:-fp32 tf32 fp16 bf16}"
BATCH="${BATCH:-256}"
STEPS="${STEPS:-60}"
TORCH_STEPS="${TORCH_STEPS:-50}"
SCALEDL="${SCALEDL:-$ROOT/build/scaledl}"
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"

log() { echo "[bench] $*" >&2; }
"$PYTHON" -c "import torch, torchvision; assert torch.cuda.is_available()" 2>/dev/null ||
  { echo "resnet50_gpu: error: $PYTHON cannot import torch/torchvision with a GPU; set PYTHON" >&2; exit 2; }
[[ -x "$SCALEDL" ]] || { echo "resnet50_gpu: error: no scaledl at $SCALEDL; set SCALEDL" >&2; exit 2; }

json_get() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

run_ours() {  # precision round -> images/s
  local dir="$OUT/ours-$1-$2"
  rm -rf "$dir"
  "$SCALEDL" train --model resnet50 --data synthetic:1024 --image-size 224 --batch "$BATCH" \
    --steps "$STEPS" --device cuda --precision "$1" --layout nhwc --no-eval --lr 0.01 \
    --schedule constant --warmup-epochs 0 --run-dir "$dir" >"$dir.log" 2>&1 ||
    { tail -5 "$dir.log" >&2; return 1; }
  json_get "$dir/summary.json" images_per_sec
  rm -f "$dir/checkpoint.safetensors"
}

run_torch() {  # precision -> images/s
  "$PYTHON" "$ROOT/bench/torch_gpu_train.py" --precision "$1" --batch "$BATCH" \
    --steps "$TORCH_STEPS" >"$OUT/torch-$1.json"
  "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["images_per_sec"])' "$OUT/torch-$1.json"
}

declare -A OURS TORCH
for r in $(seq 1 "$ROUNDS"); do
  for p in $PRECISIONS; do
    o=$(run_ours "$p" "$r")
    t=$(run_torch "$p")
    log "round $r $p: ours $o img/s, torch $t img/s"
    OURS[$p]+="$o "
    TORCH[$p]+="$t "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
TV=$("$PYTHON" -c 'import torch; print(torch.__version__)')
declare -A MED
for p in $PRECISIONS; do
  mo=$(echo "${OURS[$p]}" | median)
  mt=$(echo "${TORCH[$p]}" | median)
  MED[$p]=$mo
  printf 'resnet50_gpu_%s_b%s: ours %.0f img/s, peer torch-%s %.0f img/s, ratio ours/peer %.3f\n' \
    "$p" "$BATCH" "$mo" "$TV" "$mt" "$(awk -v a="$mo" -v b="$mt" 'BEGIN {print a / b}')"
done
if [[ -n "${MED[fp16]:-}" && -n "${MED[fp32]:-}" ]]; then
  printf 'resnet50_gpu_fp16_over_fp32: ours %.2fx\n' "$(awk -v a="${MED[fp16]}" -v b="${MED[fp32]}" 'BEGIN {print a / b}')"
fi
