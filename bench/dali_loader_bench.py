# NVIDIA DALI side of bench/data_pipeline.sh: input-pipeline throughput of DALI's ImageNet
# training pipeline run entirely on the CPU (device_id=None: no GPU or CUDA driver needed),
# with no model behind it:
#   fn.readers.file(file_root=DATA, random_shuffle=True)
#   -> fn.decoders.image_random_crop(device="cpu", RGB, random_area [0.08, 1],
#        random_aspect_ratio [3/4, 4/3])      (decodes only the crop's region: ROI decode)
#   -> fn.resize(224x224) -> fn.crop_mirror_normalize(mirror=coin_flip, ImageNet mean/std*255,
#        CHW, float)
# batch 64, --threads CPU threads. The first batch (pipeline build and start-up, first decodes)
# is the warm-up; the clock then runs until at least --images more images have come out.
# Prints one JSON line: {"images_per_sec", "seconds", "images", ...}.
#
# Run: python bench/dali_loader_bench.py --data /tmp/scaledl-jpeg/train --threads 2 --images 2000
# Package: pip install nvidia-dali-cuda130 (the CUDA variant only matters on a GPU).
import argparse
import json
import time

import nvidia.dali as dali
import nvidia.dali.fn as fn
import nvidia.dali.types as types
from nvidia.dali import pipeline_def

MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
STD = [0.229 * 255, 0.224 * 255, 0.225 * 255]


@pipeline_def
def train_pipe(data, size):
    jpegs, labels = fn.readers.file(file_root=data, random_shuffle=True, name="Reader")
    images = fn.decoders.image_random_crop(
        jpegs, device="cpu", output_type=types.RGB,
        random_area=[0.08, 1.0], random_aspect_ratio=[3 / 4, 4 / 3])
    images = fn.resize(images, resize_x=size, resize_y=size)
    images = fn.crop_mirror_normalize(
        images, mirror=fn.random.coin_flip(), mean=MEAN, std=STD,
        output_layout="CHW", dtype=types.FLOAT)
    return images, labels


def main():
    ap = argparse.ArgumentParser(description="DALI CPU-only pipeline throughput")
    ap.add_argument("--data", required=True, help="ImageFolder-style root (DATA/train)")
    ap.add_argument("--threads", type=int, default=2, help="DALI CPU threads")
    ap.add_argument("--images", type=int, default=2000, help="images timed after the warm-up batch")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    pipe = train_pipe(data=a.data, size=a.size, batch_size=a.batch, num_threads=a.threads,
                      device_id=None, seed=a.seed)
    pipe.build()
    images, _ = pipe.run()  # warm-up
    shape = images.at(0).shape
    assert tuple(shape) == (3, a.size, a.size), shape
    n = 0
    t0 = time.perf_counter()
    while n < a.images:
        images, _ = pipe.run()
        n += len(images)
    dt = time.perf_counter() - t0
    print(json.dumps({
        "images_per_sec": n / dt, "seconds": dt, "images": n,
        "threads": a.threads, "batch": a.batch, "size": a.size,
        "dataset_images": pipe.epoch_size("Reader"), "dali": dali.__version__,
    }), flush=True)


if __name__ == "__main__":
    main()
