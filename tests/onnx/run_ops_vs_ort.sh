#!/usr/bin/env bash
# The importer's op mappings against ONNX Runtime (tests/onnx/ops_vs_ort.py), with the checkers'
# venv (scripts/checkers_venv). usage: run_ops_vs_ort.sh SCALEDL   (exit 77: no venv)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=$root/.venv-checkers/bin/python
if [[ ! -x "$py" ]] || ! "$py" -c 'import numpy, onnx, onnxruntime' 2>/dev/null; then
  echo "run_ops_vs_ort: skip: $py missing or without numpy/onnx/onnxruntime" >&2
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" "$root/tests/onnx/ops_vs_ort.py" "$1" "$root" "$work"
