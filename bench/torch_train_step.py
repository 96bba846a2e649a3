# PyTorch side of bench/resnet50_train.sh: trains a torchvision model on random synthetic data
# with the same recipe as scaledl train (SGD momentum 0.9 Nesterov, weight decay 5e-4 on
# weights only, label smoothing 0.1) and prints one JSON line with images/s measured after the
# warmup steps. Works with torch 1.13 (Debian) and the newest PyPI build. --bf16 runs forward and
# loss under torch.autocast("cpu", dtype=torch.bfloat16) (fp32 master weights), as PyTorch users
# train in bf16 on the CPU.
#
# Run: python bench/torch_train_step.py --model resnet50 --batch 16 --size 224 --threads 2
import argparse
import json
import platform
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8, help="measured steps")
    ap.add_argument("--warmup", type=int, default=2, help="steps before timing starts")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--bf16", action="store_true",
                    help="autocast bf16 (torch.autocast on the cpu; weights stay fp32)")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--profile", action="store_true",
                    help="also print the top ops of one profiled step (torch.profiler)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = getattr(torchvision.models, a.model)(num_classes=a.classes)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    # A few fixed random batches, cycled (as scaledl's synthetic:N source).
    batches = [(torch.randn(a.batch, 3, a.size, a.size).contiguous(memory_format=fmt),
                torch.randint(0, a.classes, (a.batch,))) for _ in range(4)]

    def step(i):
        x, y = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(a.warmup):
        step(i)
    t0 = time.perf_counter()
    loss = 0.0
    for i in range(a.steps):
        loss = step(a.warmup + i)
    dt = time.perf_counter() - t0
    out = {
        "images_per_sec": a.steps * a.batch / dt,
        "seconds_per_step": dt / a.steps,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "model": a.model, "batch": a.batch, "size": a.size, "threads": torch.get_num_threads(),
        "steps": a.steps, "warmup": a.warmup, "channels_last": a.channels_last, "bf16": a.bf16,
        "mkldnn": torch.backends.mkldnn.is_available(), "final_loss": loss,
    }
    print(json.dumps(out), flush=True)

    if a.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step(0)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15),
              file=sys.stderr)


if __name__ == "__main__":
    main()
