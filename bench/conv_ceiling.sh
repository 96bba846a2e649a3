#!/usr/bin/env bash
# The ceiling oneDNN (Debian's libdnnl) puts on ResNet-50 training on this CPU: ResNet-50's 53
# convolutions (forward, backward data, backward weights; batch 16) timed alone, f32 and bf16,
# activations nhwc (as scaledl runs them, with the 1x1 backward passes as matmuls) and in
# oneDNN's preferred layout, alternating for ROUNDS rounds, medians. Prints a table and
#   conv_ceiling_bf16_over_f32: R (...)
# the most that bf16 can speed up the convolutions of scaledl's f32 step; then the batch norms
# after the convolutions on nhwc and on oneDNN's blocked nChw16c layout (memory-bound: bf16 at
# best halves their bytes). See docs/performance.md, "bf16 on AMX".
#
# Usage: bench/conv_ceiling.sh       Environment: ROUNDS (3), BATCH (16), THREADS (2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
BATCH="${BATCH:-16}"
THREADS="${THREADS:-2}"
BIN=build/onednn_conv_ceiling
mkdir -p build
if [[ ! -x "$BIN" || bench/onednn_conv_ceiling.cc -nt "$BIN" ]]; then
  echo "[bench] building $BIN" >&2
  g++ -O2 -std=c++17 -Wall -Wextra -o "$BIN" bench/onednn_conv_ceiling.cc -ldnnl
fi
OMP_NUM_THREADS="$THREADS" "$BIN" "$BATCH" "$ROUNDS"
