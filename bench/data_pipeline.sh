#!/usr/bin/env bash
# Input-pipeline throughput on the CPU, scaledl against torchvision's DataLoader and NVIDIA
# DALI (CPU-only): JPEG read + decode + random-resized crop to 224x224 + flip + normalize,
# batch 64, T threads each, no model behind it. Rows, run alternately for ROUNDS rounds in one
# run (so drifting machine load hits every row alike):
#   ours-files      scaledl data bench --data folder:DATA/train         (ROI decode on)
#   ours-files-noroi  same with --no-roi                                 (full decode, then crop)
#   ours-records    scaledl data bench --data records:DATA/records      (packed shards, ROI on)
#   torchvision     bench/torch_loader_bench.py --workers T    (ImageFolder, PIL, T processes)
#   dali            bench/dali_loader_bench.py --threads T     (fn.decoders.image_random_crop)
# then prints the medians (images/s) and the ratios ours/torchvision, ours/DALI, ROI on/off and
# records/raw files, and one JSON object with all of it (the lead copies figures into docs).
#
# Data: an ImageNet-like JPEG set (bench/make_jpeg_set.py: ~500x375 crops of the photographs
# in Debian's plasma-workspace-wallpapers, ~110 KB each, 10 classes), made once into
# BENCH_DATA and packed once into BENCH_DATA/records with `scaledl data pack`. All rows read
# from the page cache: the set (about 220 MB for 2000 images) is read once before round 1.
#
# Peers come from a virtual environment this script makes at .venv-bench (reused when present;
# missing packages are added): torch, torchvision, pillow, nvidia-dali-cuda130 from PyPI (torch's
# CPU wheel index is used for a fresh venv when download.pytorch.org is reachable).
#
# Usage: bench/data_pipeline.sh            (from anywhere; builds build/scaledl if missing)
# Environment: ROUNDS (3), THREADS (2), IMAGES (2000 timed images per run), SET_IMAGES (2000
#   images in the set), BENCH_DATA (/tmp/scaledl-jpeg), SIZE (224), BATCH (64),
#   PYTHON (python3, for the venv), SCALEDL (build/scaledl), DALI_PKG (nvidia-dali-cuda130).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${ROUNDS:-3}"
THREADS="${THREADS:-2}"
IMAGES="${IMAGES:-2000}"
SET_IMAGES="${SET_IMAGES:-2000}"
DATA="${BENCH_DATA:-/tmp/scaledl-jpeg}"
SIZE="${SIZE:-224}"
BATCH="${BATCH:-64}"
PYTHON="${PYTHON:-python3}"
SCALEDL="${SCALEDL:-build/scaledl}"
DALI_PKG="${DALI_PKG:-nvidia-dali-cuda130}"
VENV="$ROOT/.venv-bench"
VPY="$VENV/bin/python"

log() { echo "[bench] $*" >&2; }

# --- scaledl ---
if [[ ! -x "$SCALEDL" ]]; then
  log "building scaledl (Release) into build/"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j2 --target scaledl
  SCALEDL=build/scaledl
fi

# --- peers: torch, torchvision, Pillow, DALI in .venv-bench ---
if [[ ! -x "$VPY" ]]; then
  log "making $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
fi
if ! "$VPY" -c "import torch, torchvision" 2>/dev/null; then
  if curl -sSf -m 10 -o /dev/null https://download.pytorch.org/whl/cpu/ 2>/dev/null; then
    log "installing torch, torchvision (CPU wheels from download.pytorch.org)"
    "$VENV/bin/pip" install --quiet torch torchvision --index-url https://download.pytorch.org/whl/cpu
  else
    log "installing torch, torchvision from PyPI (download.pytorch.org unreachable; a few GB, once)"
    "$VENV/bin/pip" install --quiet torch torchvision
  fi
fi
if ! "$VPY" -c "import PIL" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet pillow
fi
if ! "$VPY" -c "import nvidia.dali" 2>/dev/null; then
  log "installing $DALI_PKG from PyPI"
  "$VENV/bin/pip" install --quiet "$DALI_PKG"
fi

# --- the JPEG set and its record shards ---
if [[ ! -f "$DATA/stats.json" ]]; then
  if [[ ! -d /usr/share/wallpapers/Path ]]; then
    log "installing plasma-workspace-wallpapers (the source photographs)"
    apt-get update -qq && apt-get install -y --no-install-recommends plasma-workspace-wallpapers >/dev/null
  fi
  log "making $SET_IMAGES JPEGs in $DATA"
  rm -rf "$DATA/train" "$DATA/records"
  "$VPY" bench/make_jpeg_set.py --out "$DATA" --images "$SET_IMAGES"
fi
if [[ ! -d "$DATA/records" ]]; then
  log "packing $DATA/train into $DATA/records"
  "$SCALEDL" data pack "folder:$DATA/train" "$DATA/records" --threads "$THREADS" >&2 ||
    { rm -rf "$DATA/records"; exit 1; }
fi
# Warm the page cache so no row pays for the first read.
find "$DATA/train" "$DATA/records" -type f -exec cat {} + >/dev/null

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
RESULTS="$TMP/results.jsonl"

# run NAME ROUND CMD... : runs CMD, takes the JSON object it prints on stdout (the whole of
# stdout, else its last line), appends {"row", "round", "result"} to RESULTS and prints images/s.
run() {
  local name="$1" round="$2"; shift 2
  local out="$TMP/$name-$round.out" err="$TMP/$name-$round.err"
  "$@" >"$out" 2>"$err" || { log "$name failed:"; cat "$err" "$out" >&2; return 1; }
  "$VPY" - "$name" "$round" "$out" "$RESULTS" <<'EOF'
import json, sys
name, rnd, out, results = sys.argv[1:]
text = open(out).read()
try:
    obj = json.loads(text)
except ValueError:
    obj = json.loads([l for l in text.splitlines() if l.strip()][-1])
with open(results, "a") as f:
    f.write(json.dumps({"row": name, "round": int(rnd), "result": obj}) + "\n")
print(obj["images_per_sec"])
EOF
}

OURS=("$SCALEDL" data bench --threads "$THREADS" --image-size "$SIZE" --images "$IMAGES"
      --batch "$BATCH" --json)
ROWS=(ours-files ours-files-noroi ours-records torchvision dali)
row_cmd() {  # NAME -> sets CMD
  case "$1" in
    ours-files)       CMD=("${OURS[@]}" --data "folder:$DATA/train") ;;
    ours-files-noroi) CMD=("${OURS[@]}" --data "folder:$DATA/train" --no-roi) ;;
    ours-records)     CMD=("${OURS[@]}" --data "records:$DATA/records") ;;
    torchvision)      CMD=("$VPY" bench/torch_loader_bench.py --data "$DATA/train"
                           --workers "$THREADS" --images "$IMAGES" --batch "$BATCH" --size "$SIZE") ;;
    dali)             CMD=("$VPY" bench/dali_loader_bench.py --data "$DATA/train"
                           --threads "$THREADS" --images "$IMAGES" --batch "$BATCH" --size "$SIZE") ;;
  esac
}

log "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds;" \
  "$THREADS threads, $IMAGES timed images per run, batch $BATCH, ${SIZE}x$SIZE; data $DATA"
START=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
  for name in "${ROWS[@]}"; do
    row_cmd "$name"
    v="$(run "$name" "$r" "${CMD[@]}")"
    printf 'round %d: %-18s %9.1f img/s\n' "$r" "$name" "$v"
  done
  log "round $r done at $((SECONDS - START)) s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
done

echo
"$VPY" - "$RESULTS" "$DATA/stats.json" "$ROUNDS" "$THREADS" "$IMAGES" "$BATCH" "$SIZE" <<'EOF'
import json, statistics, sys
results, stats_path, rounds, threads, images, batch, size = sys.argv[1:]
runs = [json.loads(l) for l in open(results)]
rows = {}
for r in runs:
    rows.setdefault(r["row"], []).append(r["result"])
med = {name: statistics.median(x["images_per_sec"] for x in rs) for name, rs in rows.items()}
stats = json.load(open(stats_path))
print(f"medians over {rounds} rounds ({threads} threads, batch {batch}, {size}x{size}, "
      f"{stats['images']} JPEGs of mean {stats['mean_bytes'] / 1000:.1f} KB, "
      f"{stats['mean_width']:.0f}x{stats['mean_height']:.0f}):")
for name, rs in rows.items():
    extra = ""
    if name.startswith("ours"):
        extra = "  (cpu %.0f%%, %.1f MB/s)" % (
            statistics.median(x.get("cpu_percent", float("nan")) for x in rs),
            statistics.median(x.get("mb_per_sec", float("nan")) for x in rs))
    print(f"  {name:18s} {med[name]:9.1f} img/s{extra}")
ratios = {
    "ours_files/torchvision": ("ours-files", "torchvision"),
    "ours_files/dali": ("ours-files", "dali"),
    "ours_records/torchvision": ("ours-records", "torchvision"),
    "ours_records/dali": ("ours-records", "dali"),
    "roi_on/roi_off": ("ours-files", "ours-files-noroi"),
    "records/files": ("ours-records", "ours-files"),
}
ratio = {k: med[a] / med[b] for k, (a, b) in ratios.items()}
for k, v in ratio.items():
    print(f"  ratio {k:26s} {v:6.3f}")
summary = {
    "bench": "data_pipeline", "rounds": int(rounds), "threads": int(threads),
    "images_per_run": int(images), "batch": int(batch), "size": int(size),
    "median_images_per_sec": med, "ratios": ratio,
    "runs": {name: [x["images_per_sec"] for x in rs] for name, rs in rows.items()},
    "ours_median_cpu_percent": {n: statistics.median(x.get("cpu_percent", 0) for x in rs)
                                for n, rs in rows.items() if n.startswith("ours")},
    "versions": {k: rows[n][0].get(k) for n, k in
                 (("torchvision", "torch"), ("torchvision", "torchvision"),
                  ("torchvision", "pillow"), ("dali", "dali")) if n in rows},
    "set": {k: stats[k] for k in ("images", "mean_bytes", "mean_width", "mean_height",
                                  "quality", "seed")},
}
print(json.dumps(summary))
EOF
log "total $((SECONDS - START)) s"
