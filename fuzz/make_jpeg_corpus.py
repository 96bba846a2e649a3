#!/usr/bin/env python3
"""Writes the JPEG fuzz seeds in fuzz/corpus/jpeg: small images in the encodings a data set
holds (RGB 4:2:0 and 4:4:4, grey, progressive, Adobe CMYK) and a truncated file. Needs Pillow
and numpy (bench/data_pipeline.sh makes .venv-bench with them):
    .venv-bench/bin/python fuzz/make_jpeg_corpus.py
"""
import os

import numpy as np
from PIL import Image

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "jpeg")
os.makedirs(out, exist_ok=True)
a = (np.add.outer(np.arange(17), np.arange(33)) * 4 % 256).astype("uint8")
rgb = np.stack([a, a[::-1], 255 - a], -1)
Image.fromarray(rgb).save(os.path.join(out, "rgb-33x17-q50.jpg"), quality=50)
Image.fromarray(a).save(os.path.join(out, "gray-33x17.jpg"), quality=90)
Image.fromarray(np.stack([a, a, a], -1)).save(
    os.path.join(out, "progressive-33x17.jpg"), quality=80, progressive=True)
Image.fromarray(rgb).save(os.path.join(out, "rgb-444-q95.jpg"), quality=95, subsampling=0)
Image.fromarray(np.stack([a, a[::-1], 255 - a, a], -1), mode="CMYK").save(
    os.path.join(out, "cmyk-33x17.jpg"), quality=90)
data = open(os.path.join(out, "rgb-33x17-q50.jpg"), "rb").read()
open(os.path.join(out, "truncated.jpg"), "wb").write(data[: len(data) // 2])
