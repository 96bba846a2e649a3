#!/usr/bin/env python3
"""Fashion-MNIST IDX (gzipped or not) -> npy:FILE arrays for scaledl at a chosen size.

Writes OUT/train.npy and OUT/test.npy (float32 [N, 1, S, S], normalized as
(pixel/255 - 0.2860)/0.3530) with OUT/train.labels.npy and OUT/test.labels.npy (int64 [N]).
Sizes: --size 28 as stored; --mode pad puts the 28x28 image in the middle of an SxS black
(pixel 0, i.e. normalized -0.8102) canvas; --mode bilinear resizes 28 -> S with bilinear
interpolation, half-pixel centers (align_corners=False, as torch and PIL). Only numpy needed.

Usage: fmnist_to_npy.py --src /usr/share/datasets/fashion-mnist --out DIR --size 32 --mode pad
"""
import argparse
import gzip
import os

import numpy as np

MEAN, STD = 0.2860, 0.3530
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            opener = gzip.open if p.endswith(".gz") else open
            with opener(p, "rb") as f:
                data = f.read()
            break
    else:
        raise SystemExit(f"fmnist_to_npy: no {path}[.gz]")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def bilinear_matrix(n_in, n_out):
    """[n_out, n_in] interpolation weights, half-pixel centers, edge-clamped."""
    m = np.zeros((n_out, n_in), np.float64)
    scale = n_in / n_out
    for o in range(n_out):
        x = max((o + 0.5) * scale - 0.5, 0.0)
        i0 = min(int(np.floor(x)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        w = x - i0
        m[o, i0] += 1.0 - w
        m[o, i1] += w
    return m.astype(np.float32)


def convert(images, size, mode):
    x = images.astype(np.float32) / 255.0
    n, h, w = x.shape
    if size != h or size != w:
        if mode == "pad":
            if size < h:
                raise SystemExit("fmnist_to_npy: --mode pad needs --size >= 28")
            top, left = (size - h) // 2, (size - w) // 2
            out = np.zeros((n, size, size), np.float32)
            out[:, top:top + h, left:left + w] = x
            x = out
        else:
            rows, cols = bilinear_matrix(h, size), bilinear_matrix(w, size)
            x = np.einsum("oh,nhw,pw->nop", rows, x, cols, optimize=True).astype(np.float32)
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x[:, None, :, :], dtype=np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--mode", choices=["pad", "bilinear"], default="pad")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for split, (img, lab) in FILES.items():
        images = read_idx(os.path.join(a.src, img))
        labels = read_idx(os.path.join(a.src, lab)).astype(np.int64)
        x = convert(images, a.size, a.mode)
        tmp = os.path.join(a.out, f".{split}.tmp.npy")
        np.save(tmp, x)
        np.save(os.path.join(a.out, f"{split}.labels.npy"), labels)
        os.replace(tmp, os.path.join(a.out, f"{split}.npy"))
        print(f"{split}: {x.shape} {x.dtype} mean {x.mean():.4f} std {x.std():.4f}, "
              f"labels {np.bincount(labels).tolist()}")


if __name__ == "__main__":
    main()
