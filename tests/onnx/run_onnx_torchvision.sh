#!/usr/bin/env bash
# ONNX import end to end on a torchvision model: the committed graph-only fixture
# tests/fixtures/onnx/MODEL.graph.onnx (torchvision's export with its large weights stripped;
# tests/fixtures/make_onnx_fixtures.py) gets seeded weights back (tests/onnx/fill_and_compare.py
# prepare), ONNX Runtime runs it on 16 seeded inputs, and so does
#   scaledl infer --onnx full.onnx --data npy:x.npy --batch 16 --save-logits ours.npy --threads 1
# The logits must agree to 1e-4 of max|ort| with the same argmax on every image, and ONNX
# Runtime's must not be degenerate (so a wrong model cannot match). Before that the comparison
# proves on these logits that it fails on perturbed ones (fill_and_compare.py compare --self-test).
# Python (numpy, onnx, onnxruntime) comes from the venv scripts/checkers_venv makes at
# ROOT/.venv-checkers; CI has no torch and needs none here.
# usage: run_onnx_torchvision.sh SCALEDL MODEL   (MODEL: mobilenet_v2 or googlenet)
#   exit 0 pass, 1 fail, 77 the checkers' venv is missing or lacks onnx/onnxruntime
set -euo pipefail
scaledl=$1 model=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
py=$root/.venv-checkers/bin/python
tool=$root/tests/onnx/fill_and_compare.py
fixture=$root/tests/fixtures/onnx/$model.graph.onnx
say() { echo "run_onnx_torchvision $model: $*" >&2; }

if [[ ! -x "$py" ]] || ! "$py" -c 'import numpy, onnx, onnxruntime' 2>/dev/null; then
  say "skip: $py missing or without numpy/onnx/onnxruntime; run scripts/checkers_venv"
  exit 77
fi
[[ -f "$fixture" ]] || { say "FAIL: no fixture $fixture"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$py" "$tool" prepare --model "$fixture" --work "$work" --seed 0 ||
  { say "FAIL: could not refill the fixture or run ONNX Runtime"; exit 1; }
"$py" "$tool" compare --ort "$work/ort.npy" --self-test ||
  { say "FAIL: the comparison does not catch perturbed logits"; exit 1; }

if ! "$scaledl" infer --onnx "$work/full.onnx" --data "npy:$work/x.npy" --batch 16 \
    --save-logits "$work/ours.npy" --threads 1 --run-dir "$work/run" >"$work/log" 2>&1; then
  cat "$work/log" >&2
  say "FAIL: scaledl infer --onnx failed"
  exit 1
fi
[[ -f "$work/ours.npy" ]] || { cat "$work/log" >&2; say "FAIL: no logits written"; exit 1; }
[[ -f "$work/run/summary.json" ]] || { cat "$work/log" >&2; say "FAIL: no summary.json"; exit 1; }

if ! "$py" "$tool" compare --ort "$work/ort.npy" --ours "$work/ours.npy"; then
  say "FAIL: scaledl's logits differ from ONNX Runtime's"
  exit 1
fi
say "pass"
