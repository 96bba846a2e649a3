#!/usr/bin/env bash
# The virtual environment of the CPU inference peers (bench/infer_peers.py): torch +
# torchvision (PyPI's default wheels, which bring CUDA libraries along: a few GB, once), ONNX,
# ONNX Runtime, OpenVINO, numpy and safetensors, each pinned to the version the benchmark was
# written against. Makes ROOT/.venv-infer, or reuses it when every pin is already installed
# (quiet then); prints the venv's path on stdout, progress on stderr.
#
# Usage: bench/infer_venv.sh            (from anywhere)
# Environment: PYTHON (python3, the interpreter the venv is made from; 3.10 or newer),
#   VENV (ROOT/.venv-infer).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$ROOT/.venv-infer}"
PINS=(
  torch==2.15.0
  torchvision==0.29.2
  onnx==1.23.2
  onnxruntime==1.32.0
  openvino==2026.4.1
  numpy==2.4.6
  safetensors==0.8.0
)

# shellcheck source=../scripts/lib/venv.sh
source "$ROOT/scripts/lib/venv.sh"
ensure_venv "$VENV" "${PINS[@]}"
echo "$VENV"
