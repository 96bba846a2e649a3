#!/usr/bin/env bash
# ResNet-50 training throughput, scaledl against PyTorch on the CPU: batch 16, 224x224, FP32
# and BF16, synthetic data, 2 compute threads each. Runs scaledl and the peers alternately for
# ROUNDS rounds in one run (so drifting machine load hits every row alike), prints each round's
# figures, then the medians as
#   resnet50_train_b16_fp32: ours X img/s, peer NAME Y img/s, ratio ours/peer Z
#   resnet50_train_b16_fp32 peak RSS: ours A MB, peer NAME B MB
# (and the same for bf16), our bf16 against our fp32, and the fastest peer of each precision
# (the target). Peak RSS is GNU time's maximum resident set size of the whole process
# (interpreter and libraries included on both sides).
#
# Peers: the newest torch + torchvision from PyPI in a virtual environment this script makes
# at .venv-bench (reused when present): fp32 NCHW and channels_last, bf16 with
# torch.autocast("cpu", bfloat16) and channels_last; Debian's python3-torch 1.13
# (/usr/bin/python3, fp32) when it imports with torchvision. scaledl bf16 runs oneDNN's bf16
# kernels where the CPU has avx512_bf16 or AMX, and emulates bf16 otherwise (its log says).
#
# Usage: bench/resnet50_train.sh            (from anywhere; builds build/scaledl if missing)
# Environment: PRECISIONS ("fp32 bf16"), ROUNDS (3), STEPS (scaledl steps per run, 10; the first
#   is warmup),
#   TORCH_STEPS (4 timed steps per torch run), TORCH_WARMUP (1), THREADS (2), BATCH (16),
#   SIZE (224), PYTHON (python3, for the venv), SCALEDL (build/scaledl).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
PRECISIONS="${PRECISIONS:-fp32 bf16}"
STEPS="${STEPS:-10}"
TORCH_STEPS="${TORCH_STEPS:-4}"
TORCH_WARMUP="${TORCH_WARMUP:-1}"
THREADS="${THREADS:-2}"
BATCH="${BATCH:-16}"
SIZE="${SIZE:-224}"
PYTHON="${PYTHON:-python3}"
SCALEDL="${SCALEDL:-build/scaledl}"
VENV="$ROOT/.venv-bench"
LR=0.01     # both sides: low enough that random labels never blow the loss up
CLASSES=10  # scaledl's synthetic data has 10 classes; torch's fc gets the same

export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"

log() { echo "[bench] $*" >&2; }

# --- scaledl ---
if [[ ! -x "$SCALEDL" ]]; then
  log "building scaledl (Release) into build/"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j2 --target scaledl
  SCALEDL=build/scaledl
fi

# --- newest PyTorch from PyPI ---
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null; then
  log "making $VENV with the newest torch and torchvision from PyPI (a few GB, once)"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet torch torchvision
fi

# Rows: name|precision|python (empty: scaledl)|extra flags.
ROWS=()
NEW_VER="$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
for prec in $PRECISIONS; do
  case "$prec" in
    fp32)
      ROWS+=("scaledl-fp32|fp32||")
      ROWS+=("torch-$NEW_VER|fp32|$VENV/bin/python|")
      ROWS+=("torch-$NEW_VER-channels_last|fp32|$VENV/bin/python|--channels-last")
      ;;
    bf16)
      ROWS+=("scaledl-bf16|bf16||")
      ROWS+=("torch-$NEW_VER-channels_last-autocast_bf16|bf16|$VENV/bin/python|--channels-last --bf16")
      ;;
    *) log "error: PRECISIONS takes fp32 and bf16, got $prec"; exit 2 ;;
  esac
done
if [[ " $PRECISIONS " == *" fp32 "* ]] && /usr/bin/python3 -c "import torch, torchvision" 2>/dev/null; then
  DEB_VER="$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
  ROWS+=("debian-torch-$DEB_VER|fp32|/usr/bin/python3|")
else
  log "Debian torch/torchvision not importable by /usr/bin/python3; skipping that row"
  log "  (apt-get install python3-torch python3-torchvision)"
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

run_ours() {  # round precision; prints images/s and the peak RSS in kB
  local dir="$TMP/run-$1-$2"
  /usr/bin/time -f %M -o "$TMP/rss" "$SCALEDL" train --model resnet50 --data synthetic:64 --image-size "$SIZE" --batch "$BATCH" \
    --steps "$STEPS" --threads "$THREADS" --no-eval --lr "$LR" --schedule constant \
    --warmup-epochs 0 --precision "$2" --run-dir "$dir" >"$TMP/ours-$1.log" 2>&1 ||
    { cat "$TMP/ours-$1.log" >&2; return 1; }
  echo "$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["images_per_sec"])' \
    "$dir/summary.json") $(tail -n 1 "$TMP/rss")"
  rm -rf "$dir"  # the checkpoint is 200 MB
}

run_peer() {  # python flags... ; prints images/s and the peak RSS in kB
  local py="$1"; shift
  local ips
  ips="$(/usr/bin/time -f %M -o "$TMP/rss" "$py" bench/torch_train_step.py --model resnet50 \
    --batch "$BATCH" --size "$SIZE" --classes "$CLASSES" --threads "$THREADS" \
    --steps "$TORCH_STEPS" --warmup "$TORCH_WARMUP" --lr "$LR" "$@" |
    tail -n 1 | "$PYTHON" -c 'import json,sys; print(json.loads(sys.stdin.read())["images_per_sec"])')"
  echo "$ips $(tail -n 1 "$TMP/rss")"
}

log "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds;" \
  "scaledl $STEPS steps (first excluded), torch $TORCH_WARMUP+$TORCH_STEPS steps"
declare -A RESULTS RSS
START=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name prec py flags <<<"$row"
    if [[ -z "$py" ]]; then
      read -r v kb <<<"$(run_ours "$r" "$prec")"
    else
      # shellcheck disable=SC2086
      read -r v kb <<<"$(run_peer "$py" $flags)"
    fi
    RESULTS[$name]+="$v " RSS[$name]+="$kb "
    printf 'round %d: %-44s %8.3f img/s, peak RSS %6d MB\n' "$r" "$name" "$v" $((kb / 1024))
  done
  log "round $r done at $((SECONDS - START)) s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo
echo "medians over $ROUNDS rounds (batch $BATCH, ${SIZE}x$SIZE, $THREADS threads, synthetic data):"
for prec in $PRECISIONS; do
  ours="scaledl-$prec"
  o="$(echo "${RESULTS[$ours]}" | median)"
  o_rss="$(echo "${RSS[$ours]}" | median)"
  best_name="" best=0
  for row in "${ROWS[@]}"; do
    IFS='|' read -r name p py _ <<<"$row"
    [[ "$p" == "$prec" && -n "$py" ]] || continue
    y="$(echo "${RESULTS[$name]}" | median)"
    awk -v o="$o" -v y="$y" -v n="$name" -v p="$prec" \
      'BEGIN {printf "resnet50_train_b16_%s: ours %.3f img/s, peer %s %.3f img/s, ratio ours/peer %.3f\n", p, o, n, y, o / y}'
    awk -v o="$o_rss" -v y="$(echo "${RSS[$name]}" | median)" -v n="$name" -v p="$prec" \
      'BEGIN {printf "resnet50_train_b16_%s peak RSS: ours %.0f MB, peer %s %.0f MB\n", p, o / 1024, n, y / 1024}'
    if awk -v y="$y" -v b="$best" 'BEGIN {exit !(y > b)}'; then best="$y" best_name="$name"; fi
  done
  awk -v o="$o" -v y="$best" -v n="$best_name" -v p="$prec" \
    'BEGIN {printf "%s fastest peer (the target): %s %.3f img/s; ours/target %.3f\n", p, n, y, o / y}'
done
if [[ " $PRECISIONS " == *" fp32 "* && " $PRECISIONS " == *" bf16 "* ]]; then
  awk -v b="$(echo "${RESULTS[scaledl-bf16]}" | median)" -v f="$(echo "${RESULTS[scaledl-fp32]}" | median)" \
    'BEGIN {printf "ours bf16/fp32: %.3f (%.3f against %.3f img/s)\n", b / f, b, f}'
fi
log "total $((SECONDS - START)) s"
