#!/usr/bin/env bash
# ONNX import against ONNX Runtime on eight torchvision models: resnet50, resnet101, resnet152,
# vgg16, vgg19, googlenet, alexnet, mobilenet_v2. Each is built with random weights under
# torch.manual_seed(0) (googlenet: no aux heads, init_weights, no transform_input), exported in
# eval mode by torch's TorchScript exporter (dynamo=False, opset 17, constant folding, dynamic
# batch) to WORK/NAME.onnx, and run on the same 16 inputs (WORK/x16.npy, float32
# [16,3,224,224], numpy default_rng(0) standard normal) by ONNX Runtime (CPU, fp32) and by
#   scaledl infer --onnx WORK/NAME.onnx --data npy:WORK/x16.npy --batch 16 --precision fp32
# Prints one line per model, max|ours - ort| / max|ort| (PASS at <= 1e-4), then the count
# (a line marked WEAK: ORT's logits hardly vary over the batch, so the match says little; that
# is googlenet, whose own std-0.01 init leaves logits equal to the classifier's bias);
# a model scaledl cannot import or run gets its one-line error and the run goes on. Every figure
# goes to WORK/summary.json; the exit status is 1 unless every model passes. An accuracy check,
# not a timing: nothing here is timed. The error is relative because torchvision's random
# initialisation leaves the logits at very different scales (max|ort| about 1e8 for resnet152,
# 3e-9 for mobilenet_v2, whose depthwise convolutions get a fan-out init that shrinks them).
#
# The models and inputs are made once (delete WORK, or FRESH=1, to make them again); ONNX
# Runtime's logits are computed every run. Python comes from the venv bench/infer_venv.sh makes
# at .venv-infer (pinned torch, torchvision, onnx, onnxruntime; reused when present).
#
# Usage: bench/onnx_torchvision.sh      (from anywhere; needs build/scaledl with `infer --onnx`)
# Environment: WORK (/tmp/scaledl-onnx-bench), SCALEDL (build/scaledl), MODELS (all eight,
#   comma-separated), THREADS (1, for ours and ONNX Runtime alike), FRESH (0).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="${WORK:-/tmp/scaledl-onnx-bench}"
SCALEDL="${SCALEDL:-build/scaledl}"
MODELS="${MODELS:-resnet50,resnet101,resnet152,vgg16,vgg19,googlenet,alexnet,mobilenet_v2}"
THREADS="${THREADS:-1}"
FRESH="${FRESH:-0}"
PYSCRIPT="$ROOT/bench/onnx_torchvision.py"

export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"

log() { echo "[onnx] $*" >&2; }

if ! "$SCALEDL" infer --help 2>/dev/null | grep -q -- --onnx; then
  log "$SCALEDL infer has no --onnx option; build it (scripts/setup) or set SCALEDL"
  exit 2
fi

PY="$(bench/infer_venv.sh)/bin/python"
mkdir -p "$WORK/runs" "$WORK/logs"

# --- the models and inputs, once ---
missing=()
IFS=, read -ra names <<<"$MODELS"
for m in "${names[@]}"; do
  if [[ "$FRESH" == 1 || ! -f "$WORK/$m.onnx" ]]; then missing+=("$m"); fi
done
if [[ "$FRESH" == 1 || ! -f "$WORK/x16.labels.npy" || ${#missing[@]} -gt 0 ]]; then
  log "exporting ${missing[*]:-(inputs only)} to $WORK"
  list=$(IFS=,; echo "${missing[*]}")
  # --models "" means all eight, so with nothing missing export one (cheap) to remake inputs
  "$PY" "$PYSCRIPT" export --work "$WORK" --models "${list:-alexnet}" \
    >"$WORK/logs/export.log" 2>&1 || { tail -20 "$WORK/logs/export.log" >&2; exit 1; }
fi

log "ONNX Runtime, $THREADS thread(s)"
"$PY" "$PYSCRIPT" ort --work "$WORK" --models "$MODELS" --threads "$THREADS" \
  >"$WORK/logs/ort.log" 2>&1 || { tail -20 "$WORK/logs/ort.log" >&2; exit 1; }

# --- ours, one model at a time; a failure leaves NAME.error (its last line) for compare ---
for m in "${names[@]}"; do
  rm -f "$WORK/$m.ours.npy" "$WORK/$m.error"
  rm -rf "$WORK/runs/$m"
  logf="$WORK/logs/$m.ours.log"
  log "scaledl infer --onnx $m.onnx"
  if ! "$SCALEDL" infer --onnx "$WORK/$m.onnx" --data "npy:$WORK/x16.npy" --batch 16 \
      --save-logits "$WORK/$m.ours.npy" --precision fp32 --threads "$THREADS" \
      --run-dir "$WORK/runs/$m" >"$logf" 2>&1; then
    grep -v '^[[:space:]]*$' "$logf" | tail -1 >"$WORK/$m.error" || true
  elif [[ ! -f "$WORK/$m.ours.npy" ]]; then
    echo "exit 0 but no $m.ours.npy written (log: $logf)" >"$WORK/$m.error"
  fi
done

"$PY" "$PYSCRIPT" compare --work "$WORK" --models "$MODELS"
