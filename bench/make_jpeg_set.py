# Builds an ImageNet-like JPEG set from real photographs, for the input-pipeline benchmark
# (bench/data_pipeline.sh). ImageNet's training JPEGs are about 500x375 (mostly landscape, some
# portrait), baseline, 4:2:0, about 110 KB on average; this makes files like that:
#
#   - sources: the photographs among Debian's desktop wallpapers (plasma-workspace-wallpapers;
#     gnome-backgrounds 43 holds only drawings/renders, so none of it is used). Each photograph
#     is one class, 10 classes. The drawings/renders are left out by name (PHOTOS below).
#   - each image is a random crop of a randomly scaled source: the crop covers between 1/4 and
#     all of the source's height (so crops are not all at full resolution), resampled to the
#     output size with Lanczos. Output sizes: 500x375 (70%), 375x500 (15%), 500x333 (15%).
#   - one JPEG quality for the whole set, found by bisection on a sample so that the mean file
#     size is about --target-kb (110 KB, ImageNet's mean). The wallpapers are smoother than
#     ImageNet's consumer photos (no sensor noise, much bokeh), so this lands high (99 with the
#     default seed): the bytes to entropy-decode per image match ImageNet's, the pixels too.
#
# Output: OUT/train/<class>/<class>_<n>.jpg (a torchvision ImageFolder tree), OUT/train.csv
# (path relative to OUT,label index), OUT/stats.json (count, mean bytes, mean size, quality,
# sources). Deterministic for a given --seed, source set and Pillow version.
#
# Run: python bench/make_jpeg_set.py --out /tmp/scaledl-jpeg --images 2000 --seed 1
# Needs Pillow and: apt-get install -y --no-install-recommends plasma-workspace-wallpapers
import argparse
import io
import json
import os
import random
import sys
import time

from PIL import Image

# The photographs in plasma-workspace-wallpapers 5.27 (the others there are renders/drawings).
# 11 photographs, 10 classes: DarkestHour (nearly featureless dusk) is the spare.
PHOTOS = ["BytheWater", "ColdRipple", "ColorfulCups", "EveningGlow", "FallenLeaf", "Grey",
          "Kite", "OneStandsOut", "Path", "summer_1am", "DarkestHour"]
WALLPAPERS = "/usr/share/wallpapers"
SIZES = [((500, 375), 0.70), ((375, 500), 0.15), ((500, 333), 0.15)]


def find_sources(root, classes):
    """(name, path) of the largest raster image of each photograph present, up to `classes`."""
    found = []
    for name in PHOTOS:
        d = os.path.join(root, name, "contents", "images")
        if not os.path.isdir(d):
            continue
        best, best_px = None, 0
        # Most names there are symlinks to the one full-size file: resolve them.
        for f in sorted({os.path.realpath(os.path.join(d, f)) for f in os.listdir(d)}):
            if f.lower().endswith((".svg", ".svgz")):
                continue
            try:
                with Image.open(f) as im:
                    px = im.size[0] * im.size[1]
            except OSError:
                continue
            if px > best_px:
                best, best_px = f, px
        if best:
            found.append((name.lower(), best))
        if len(found) == classes:
            break
    return found


def pick_size(rng):
    r, acc = rng.random(), 0.0
    for size, p in SIZES:
        acc += p
        if r < acc:
            return size
    return SIZES[-1][0]


def make_crop(rng, src, size):
    """A size-sized crop of src scaled by a random factor: the crop's source box spans between
    1/4 and the whole of the source's limiting side."""
    sw, sh = src.size
    w, h = size
    # Largest box of the output's aspect that fits in the source.
    fit = min(sw / w, sh / h)
    frac = rng.uniform(0.25, 1.0)  # fraction of that largest box (per side)
    bw, bh = w * fit * frac, h * fit * frac
    x0 = rng.uniform(0, sw - bw)
    y0 = rng.uniform(0, sh - bh)
    return src.resize(size, Image.LANCZOS, box=(x0, y0, x0 + bw, y0 + bh))


def encode(im, quality):
    buf = io.BytesIO()
    # Baseline (not progressive), 4:2:0, as most ImageNet files.
    im.save(buf, "JPEG", quality=quality, subsampling="4:2:0", optimize=False)
    return buf.getvalue()


def pick_quality(crops, target_bytes):
    """The quality whose mean size on `crops` is nearest target_bytes (bisection, 30..100)."""
    lo, hi = 30, 100
    while lo < hi:
        q = (lo + hi) // 2
        mean = sum(len(encode(c, q)) for c in crops) / len(crops)
        if mean < target_bytes:
            lo = q + 1
        else:
            hi = q
    # Take whichever of lo-1 / lo is closer to the target.
    m_lo = sum(len(encode(c, lo)) for c in crops) / len(crops)
    if lo > 30:
        m_prev = sum(len(encode(c, lo - 1)) for c in crops) / len(crops)
        if abs(m_prev - target_bytes) < abs(m_lo - target_bytes):
            return lo - 1, m_prev
    return lo, m_lo


def main():
    ap = argparse.ArgumentParser(description="ImageNet-like JPEG set from real photographs")
    ap.add_argument("--out", required=True, help="output folder (train/, train.csv, stats.json)")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--target-kb", type=float, default=110.0, help="mean file size (KB = 1000 B)")
    ap.add_argument("--quality", type=int, default=0, help="fixed JPEG quality (0: calibrate)")
    ap.add_argument("--wallpapers", default=WALLPAPERS)
    a = ap.parse_args()

    sources = find_sources(a.wallpapers, a.classes)
    if len(sources) < a.classes:
        sys.exit(f"found {len(sources)} of {a.classes} photographs under {a.wallpapers}; "
                 "apt-get install -y --no-install-recommends plasma-workspace-wallpapers")
    t0 = time.time()
    imgs = []
    for name, path in sources:
        with Image.open(path) as im:
            imgs.append(im.convert("RGB"))
        print(f"source {name}: {path} {imgs[-1].size[0]}x{imgs[-1].size[1]}", file=sys.stderr)

    rng = random.Random(a.seed)
    # Plan every image first (class, size, crop RNG seed) so calibration samples the same crops.
    plan = [(i % a.classes, pick_size(rng), rng.getrandbits(64)) for i in range(a.images)]

    quality = a.quality
    if quality <= 0:
        # A random sample (a stride could hit one class only).
        pick = random.Random(a.seed + 1).sample(range(len(plan)), min(len(plan), 200))
        sample = [plan[i] for i in sorted(pick)]
        crops = [make_crop(random.Random(s), imgs[c], size) for c, size, s in sample]
        quality, mean = pick_quality(crops, a.target_kb * 1000)
        print(f"quality {quality}: sample mean {mean / 1000:.1f} KB over {len(crops)} crops",
              file=sys.stderr)

    train = os.path.join(a.out, "train")
    for name, _ in sources:
        os.makedirs(os.path.join(train, name), exist_ok=True)
    rows, total, wsum, hsum = [], 0, 0, 0
    counts = [0] * a.classes
    for c, size, s in plan:
        name = sources[c][0]
        data = encode(make_crop(random.Random(s), imgs[c], size), quality)
        rel = os.path.join("train", name, f"{name}_{counts[c]:05d}.jpg")
        counts[c] += 1
        with open(os.path.join(a.out, rel), "wb") as f:
            f.write(data)
        rows.append((rel, c))
        total += len(data)
        wsum += size[0]
        hsum += size[1]

    with open(os.path.join(a.out, "train.csv"), "w") as f:
        f.write("path,label\n")
        for rel, c in rows:
            f.write(f"{rel},{c}\n")
    n = len(rows)
    stats = {
        "images": n, "classes": a.classes, "seed": a.seed, "quality": quality,
        "mean_bytes": total / n, "total_bytes": total,
        "mean_width": wsum / n, "mean_height": hsum / n,
        "sources": [{"class": name, "path": path} for name, path in sources],
        "pillow": Image.__version__ if hasattr(Image, "__version__") else None,
    }
    with open(os.path.join(a.out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(f"{n} images in {a.out}/train, mean {total / n / 1000:.1f} KB, "
          f"mean {wsum / n:.0f}x{hsum / n:.0f}, quality {quality}, {time.time() - t0:.1f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
