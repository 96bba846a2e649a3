# PyTorch side of bench/resnet50_gpu.sh: torchvision ResNet-50 trained on the GPU on random
# synthetic data, channels_last, with torch.autocast in fp16 (GradScaler) or bf16, or plain
# fp32/tf32; the same recipe as scaledl train (SGD momentum 0.9 Nesterov, weight decay 5e-4
# on weights only, label smoothing 0.1). Prints one JSON line: images/s after the warmup.
#
# Run: python bench/torch_gpu_train.py --precision fp16 --batch 256
import argparse
import json
import time

import torch
import torch.nn.functional as F
import torchvision


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--precision", choices=["fp32", "tf32", "fp16", "bf16"], default="fp16")
    ap.add_argument("--steps", type=int, default=50, help="measured steps")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.01)
    a = ap.parse_args()

    torch.backends.cudnn.benchmark = True
    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(1)
    dev = torch.device("cuda")
    model = getattr(torchvision.models, a.model)(num_classes=a.classes)
    model = model.to(dev, memory_format=torch.channels_last).train()
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=a.lr, momentum=0.9, nesterov=True)
    amp = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(a.precision)
    scaler = torch.amp.GradScaler("cuda", enabled=a.precision == "fp16")
    batches = [(torch.randn(a.batch, 3, a.size, a.size, device=dev)
                .contiguous(memory_format=torch.channels_last),
                torch.randint(0, a.classes, (a.batch,), device=dev)) for _ in range(4)]

    def step(i):
        x, y = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=amp or torch.float32, enabled=amp is not None):
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    for i in range(a.warmup):
        step(i)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(a.steps):
        loss = step(a.warmup + i)
    loss = loss.item()  # synchronizes
    dt = time.perf_counter() - t0
    print(json.dumps({"images_per_sec": a.steps * a.batch / dt, "loss": loss,
                      "torch": torch.__version__, "precision": a.precision,
                      "batch": a.batch, "gpu": torch.cuda.get_device_name()}))


if __name__ == "__main__":
    main()
