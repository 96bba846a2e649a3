# torchvision side of bench/data_pipeline.sh: input-pipeline throughput of the standard
# ImageNet training loader on the CPU, with no model behind it. DataLoader over
# ImageFolder(DATA) (PIL decode), transforms RandomResizedCrop(224), RandomHorizontalFlip(),
# ToTensor(), Normalize(ImageNet mean/std), batch 64, shuffled, --workers worker processes
# (persistent). The first batch (worker start-up, first decodes) is the warm-up; the clock then
# runs until at least --images more images have come out (cycling epochs if the set is
# smaller). Prints one JSON line: {"images_per_sec", "seconds", "images", ...}.
#
# Run: python bench/torch_loader_bench.py --data /tmp/scaledl-jpeg/train --workers 2 --images 2000
import argparse
import json
import time

import PIL
import torch
import torchvision
from torchvision import datasets, transforms

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def main():
    ap = argparse.ArgumentParser(description="torchvision DataLoader throughput (ImageFolder, PIL)")
    ap.add_argument("--data", required=True, help="ImageFolder root (DATA/train)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    ap.add_argument("--images", type=int, default=2000, help="images timed after the warm-up batch")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    torch.set_num_threads(1)  # the main process only collates; the work is in the workers
    tf = transforms.Compose([
        transforms.RandomResizedCrop(a.size),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])
    ds = datasets.ImageFolder(a.data, transform=tf)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=a.batch, shuffle=True, num_workers=a.workers,
        persistent_workers=a.workers > 0, drop_last=False)

    def batches():
        while True:  # cycle epochs; persistent workers survive across them
            yield from loader

    it = batches()
    x, _ = next(it)  # warm-up
    assert x.shape[1:] == (3, a.size, a.size), x.shape
    n = 0
    t0 = time.perf_counter()
    while n < a.images:
        x, y = next(it)
        n += x.shape[0]
    dt = time.perf_counter() - t0
    print(json.dumps({
        "images_per_sec": n / dt, "seconds": dt, "images": n,
        "workers": a.workers, "batch": a.batch, "size": a.size, "dataset_images": len(ds),
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "pillow": PIL.__version__, "image_backend": torchvision.get_image_backend(),
    }), flush=True)


if __name__ == "__main__":
    main()
