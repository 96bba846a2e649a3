"""The peers of `scaledl infer` on the CPU: ONNX Runtime, OpenVINO and PyTorch running one
ResNet-50 with fixed-seed random weights. Run it inside the venv bench/infer_venv.sh makes.

  prepare --out DIR   writes the model once, in every form the rows need:
      resnet50.safetensors      the weights as a scaledl checkpoint (scaledl infer/eval load it)
      resnet50.onnx             the same weights, ONNX opset 17, dynamic batch, input "input"
      resnet50_int8_qdq.onnx    ONNX Runtime's static int8 quantization of it (QDQ, per-channel
                                QInt8 weights, QUInt8 activations, entropy calibration)
      calib.npy                 float32 [N,3,S,S] calibration images (normalized)
      logits_ref.npy            torch's fp32 logits for the first 8 calibration images
      prepared.json             what was made and how (written last: the cache's marker)
  run --dir DIR --peer NAME --batch B --seconds S --threads T [--json] [--perf-counts FILE]
      times one peer at one batch size and prints images/s and latency percentiles.
  report --results FILE.jsonl --out summary.json
      medians over rounds, ours against the fastest peer (used by bench/infer_cpu.sh).

The weights: torchvision's resnet50() initialised under torch.manual_seed(seed); each batch
norm then gets a random affine (gamma in [0.5, 1.5], beta ~ N(0, 0.1)) from the same seed and
running statistics measured on the calibration images (one train-mode pass), so folding BN
into the convolutions changes every weight and activations keep realistic ranges for int8.
The images: sums of smooth random fields at 4 scales plus a little pixel noise, squashed to
[0, 1] and normalized with ImageNet's mean/std.
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CLASSES = 1000
REF_IMAGES = 8
CALIB_BATCH = 4  # images per calibration run
CALIB_FOLD = 5  # runs between histogram folds (bounds the calibrator's memory)
CHECKPOINT_FORMAT = "scaledl-checkpoint-1"  # src/train/checkpoint.cc kFormat
PREPARE_FORMAT = 1  # bump when prepare's files change: bench/infer_cpu.sh then remakes them
PEERS = ("ort-fp32", "ort-int8", "ov-fp32", "ov-bf16", "ov-int8", "torch-fp32", "torch-bf16")


# ---------------------------------------------------------------------------------- prepare


def make_images(n, size, seed):
    """Smooth, image-like random inputs: float32 [n,3,size,size], ImageNet-normalized."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed + 1)
    x = torch.zeros(n, 3, size, size)
    for cells, amp in ((4, 1.0), (8, 0.6), (16, 0.35), (32, 0.2)):
        field = torch.randn(n, 3, cells, cells, generator=g) * amp
        x += F.interpolate(field, size=(size, size), mode="bicubic", align_corners=False)
    x += torch.randn(n, 3, size, size, generator=g) * 0.05
    x = torch.sigmoid(x * 1.5)  # pixel values in (0, 1), most mass in the middle
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return ((x - mean) / std).float().numpy()


def randomize_bn(model, images, seed):
    """Random BN affine from the seed, running stats measured on `images` (one pass)."""
    import torch

    g = torch.Generator().manual_seed(seed + 2)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            c = bn.num_features
            bn.weight.copy_(torch.rand(c, generator=g) + 0.5)
            bn.bias.copy_(torch.randn(c, generator=g) * 0.1)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: one pass sets the batch statistics
        model.train()
        model(torch.from_numpy(images))
    for bn in bns:
        bn.momentum = 0.1
    model.eval()


def build_model(seed, calib):
    import torch
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.resnet50(num_classes=CLASSES)
    randomize_bn(model, calib[:16], seed)
    return model


def checkpoint_metadata(seed, size, calib_images):
    config = {"made_by": "bench/infer_peers.py prepare", "seed": seed,
              "calib_images": calib_images, "weights": "random (torchvision resnet50 init)"}
    return {
        "format": CHECKPOINT_FORMAT, "model": "resnet50", "step": "0", "epoch": "0",
        "rng_state": str(seed), "image_size": str(size), "in_channels": "3",
        "classes": str(CLASSES), "norm_mean": ",".join(repr(v) for v in MEAN),
        "norm_std": ",".join(repr(v) for v in STD), "config": json.dumps(config),
    }


def write_checkpoint(model, path, metadata):
    """The state_dict as scaledl stores it: fp32 tensors, no num_batches_tracked (int64)."""
    from safetensors.numpy import save_file

    tensors = {k: v.detach().float().contiguous().numpy()
               for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_file(tensors, path, metadata=metadata)
    os.chmod(path, 0o644)  # safetensors writes 0600


def export_onnx(model, path, size):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (torch.zeros(1, 3, size, size),), path, dynamo=False,
                          opset_version=17, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


class CalibReader:
    """Feeds the calibration images to ONNX Runtime's calibrator, a few at a time; set_range
    lets quantize_static fold histograms every few batches (CalibStridedMinMax) instead of
    holding every activation of every image (about 70 MB an image for ResNet-50)."""

    def __init__(self, images, batch=CALIB_BATCH):
        self.batches = [images[i:i + batch] for i in range(0, len(images), batch)]
        self.todo = list(self.batches)

    def __len__(self):
        return len(self.batches)

    def set_range(self, start_index, end_index):
        self.todo = self.batches[start_index:end_index]

    def get_next(self):
        return {"input": self.todo.pop(0)} if self.todo else None


def fold_every(n_batches, most=CALIB_FOLD):
    """The largest divisor of n_batches not above `most` (quantize_static needs a divisor)."""
    return max(k for k in range(1, min(most, n_batches) + 1) if n_batches % k == 0)


def quantize_int8(fp32_path, out_path, calib, tmp_dir):
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quant_pre_process, quantize_static)

    pre = os.path.join(tmp_dir, "resnet50_preprocessed.onnx")
    quant_pre_process(fp32_path, pre)
    reader = CalibReader(calib)
    quantize_static(pre, out_path, reader, quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.Entropy,
                    extra_options={"CalibStridedMinMax": fold_every(len(reader))})
    os.remove(pre)


def check_onnx(path, calib, ref):
    """ONNX Runtime's logits against torch's: max |difference|, relative L2 error, top-1
    agreement (random weights give near-tied logits: top-1 flips easily under int8)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": calib[:REF_IMAGES]})[0]
    return {"max_abs_err": float(np.abs(out - ref).max()),
            "rel_l2_err": float(np.linalg.norm(out - ref) / np.linalg.norm(ref)),
            "top1_agree": float(np.mean(out.argmax(1) == ref.argmax(1)))}


def cmd_prepare(a):
    import torch

    os.makedirs(a.out, exist_ok=True)
    marker = os.path.join(a.out, "prepared.json")
    if os.path.exists(marker):
        os.remove(marker)
    t0 = time.time()
    calib = make_images(a.calib_images, a.image_size, a.seed)
    np.save(os.path.join(a.out, "calib.npy"), calib)
    model = build_model(a.seed, calib)
    write_checkpoint(model, os.path.join(a.out, "resnet50.safetensors"),
                     checkpoint_metadata(a.seed, a.image_size, a.calib_images))
    with torch.inference_mode():
        ref = model(torch.from_numpy(calib[:REF_IMAGES])).numpy()
    np.save(os.path.join(a.out, "logits_ref.npy"), ref)
    fp32 = os.path.join(a.out, "resnet50.onnx")
    export_onnx(model, fp32, a.image_size)
    int8 = os.path.join(a.out, "resnet50_int8_qdq.onnx")
    quantize_int8(fp32, int8, calib, a.out)
    info = {"prepare_format": PREPARE_FORMAT, "seed": a.seed, "image_size": a.image_size,
            "calib_images": a.calib_images,
            "calibration": "onnxruntime quantize_static, CalibrationMethod.Entropy, QDQ, "
                           "per-channel QInt8 weights, QUInt8 activations",
            "versions": versions(), "seconds": round(time.time() - t0, 1),
            "logit_range": [float(ref.min()), float(ref.max())],
            "ort_fp32_vs_torch": check_onnx(fp32, calib, ref),
            "ort_int8_vs_torch": check_onnx(int8, calib, ref)}
    with open(marker + ".tmp", "w") as f:
        json.dump(info, f, indent=1)
    os.replace(marker + ".tmp", marker)
    print(json.dumps(info))


def versions():
    out = {}
    for mod in ("torch", "torchvision", "onnx", "onnxruntime", "openvino", "numpy", "safetensors"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = None
    return out


# -------------------------------------------------------------------------------------- run


def make_input(d, batch):
    calib = np.load(os.path.join(d, "calib.npy"))
    reps = -(-batch // len(calib))
    return np.ascontiguousarray(np.concatenate([calib] * reps)[:batch])


def ort_runner(d, peer, x, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    name = "resnet50_int8_qdq.onnx" if peer == "ort-int8" else "resnet50.onnx"
    sess = ort.InferenceSession(os.path.join(d, name), so, providers=["CPUExecutionProvider"])
    return (lambda: sess.run(None, {"input": x})), {"runtime": "onnxruntime " + ort.__version__}


def ov_compile(d, peer, batch, threads, perf_count):
    import openvino as ov

    core = ov.Core()
    name = "resnet50_int8_qdq.onnx" if peer == "ov-int8" else "resnet50.onnx"
    model = core.read_model(os.path.join(d, name))
    size = model.input(0).get_partial_shape()[2].get_length()
    model.reshape({"input": [batch, 3, size, size]})  # static shapes, as ours plans per batch
    config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_PRECISION_HINT": "bf16" if peer == "ov-bf16" else "f32",
              "PERF_COUNT": perf_count}
    return core.compile_model(model, "CPU", config)


def ov_runner(d, peer, x, threads):
    import openvino as ov

    compiled = ov_compile(d, peer, len(x), threads, False)
    req = compiled.create_infer_request()
    # Where the CPU lacks bf16, OpenVINO quietly runs f32: the row says what it ran.
    info = {"runtime": "openvino " + ov.get_version().split("-")[0],
            "inference_precision": str(compiled.get_property("INFERENCE_PRECISION_HINT"))}
    return (lambda: req.infer({0: x})), info


def write_perf_counts(d, peer, x, threads, path, iterations=5):
    """OpenVINO's per-layer table, real time averaged over `iterations` inferences."""
    req = ov_compile(d, peer, len(x), threads, True).create_infer_request()
    req.infer({0: x})  # warmup
    rows = {}
    for _ in range(iterations):
        req.infer({0: x})
        for p in req.get_profiling_info():
            r = rows.setdefault(p.node_name, [p.node_type, p.exec_type, str(p.status), 0.0])
            r[3] += p.real_time.total_seconds() * 1e3 / iterations
    with open(path, "w") as f:
        f.write("layer\ttype\texec_type\tstatus\treal_ms\n")
        for name, (typ, exe, status, ms) in rows.items():
            f.write(f"{name}\t{typ}\t{exe}\t{status}\t{ms:.4f}\n")
    total = sum(r[3] for r in rows.values())
    print(f"[peers] {peer}: {len(rows)} layers, {total:.2f} ms summed -> {path}", file=sys.stderr)


def torch_runner(d, peer, x, threads):
    import torch
    import torchvision
    from safetensors.torch import load_file

    torch.set_num_threads(threads)
    model = torchvision.models.resnet50(num_classes=CLASSES)
    missing, unexpected = model.load_state_dict(
        load_file(os.path.join(d, "resnet50.safetensors")), strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        sys.exit(f"[peers] checkpoint does not fit torchvision resnet50: missing {missing}, "
                 f"unexpected {unexpected}")
    model = model.eval().to(memory_format=torch.channels_last)
    xt = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
    bf16 = peer == "torch-bf16"

    def step():
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            return model(xt)
    return step, {"runtime": "torch " + torch.__version__}


def time_runner(step, seconds, warmup):
    """Latencies (s) of back-to-back calls for at least `seconds`, after `warmup` calls."""
    for _ in range(warmup):
        step()
    lat = []
    start = time.perf_counter()
    while not lat or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        step()
        lat.append(time.perf_counter() - t)
    return lat, time.perf_counter() - start


def cmd_run(a):
    if a.perf_counts and not a.peer.startswith("ov-"):
        sys.exit("[peers] --perf-counts is for the ov-* peers (OpenVINO's PERF_COUNT)")
    x = make_input(a.dir, a.batch)
    make = {"ort": ort_runner, "ov": ov_runner, "torch": torch_runner}[a.peer.split("-")[0]]
    step, info = make(a.dir, a.peer, x, a.threads)
    warmup = a.warmup if a.warmup is not None else max(1, min(5, 8 // a.batch))
    lat, wall = time_runner(step, a.seconds, warmup)
    ms = np.array(lat) * 1e3
    row = {"peer": a.peer, "batch": a.batch, "threads": a.threads,
           "images_per_sec": round(len(lat) * a.batch / wall, 3),
           "p50_ms": round(float(np.percentile(ms, 50)), 3),
           "p90_ms": round(float(np.percentile(ms, 90)), 3),
           "p99_ms": round(float(np.percentile(ms, 99)), 3),
           "iterations": len(lat), "seconds": round(wall, 3), **info}
    print(f"{a.peer} batch {a.batch}: {row['images_per_sec']:.1f} img/s, p50 {row['p50_ms']:.1f} "
          f"ms, p90 {row['p90_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms ({len(lat)} iterations, "
          f"{a.threads} threads)", file=sys.stderr if a.json else sys.stdout)
    if a.json:
        print(json.dumps(row), flush=True)
    if a.perf_counts:
        write_perf_counts(a.dir, a.peer, x, a.threads, a.perf_counts)


# ----------------------------------------------------------------------------------- report


def medians(rows):
    """{(name, batch): {metric: median over rounds}} from result rows."""
    groups = {}
    for r in rows:
        groups.setdefault((r["name"], int(r["batch"])), []).append(r)
    out = {}
    for key, rs in groups.items():
        out[key] = {m: float(np.median([r[m] for r in rs]))
                    for m in ("images_per_sec", "p50_ms", "p90_ms", "p99_ms")}
        out[key]["rounds"] = len(rs)
        if "inference_precision" in rs[0]:
            out[key]["inference_precision"] = rs[0]["inference_precision"]
    return out


def fig(v):
    return "n/a" if v is None else f"{v:.1f} img/s"


def ratio_line(name, ours_label, ours, peer_label, peer):
    """A `name: ours X, peer Y, ratio R` line (n/a for a missing side) and its record."""
    rec = {"name": name, "ours_row": ours_label, "ours": ours, "peer": peer_label,
           "peer_images_per_sec": peer, "ratio": None}
    line = f"{name}: ours {fig(ours)}, peer {peer_label} {fig(peer)}, ratio "
    if ours is None or peer is None:
        return rec, line + "n/a"
    rec["ratio"] = round(ours / peer, 4)
    return rec, line + f"{ours / peer:.2f}"


def peer_label(med, peer, b):
    """The peer's name, flagged when OpenVINO ran f32 for a bf16 hint (no bf16 on the CPU)."""
    ran = med[(peer, b)].get("inference_precision", "")
    return peer + (" (ran f32: no bf16 on this CPU)" if "bf16" in peer and "32" in ran else "")


def comparisons(med, batches):
    """Ours against the fastest peer per precision, and ours int8 against ours fp32."""
    ips = {k: v["images_per_sec"] for k, v in med.items()}
    out = []
    for b in sorted(batches, reverse=True):
        for prec in ("int8", "bf16", "fp32"):
            peers = [(ips[(p, b)], peer_label(med, p, b)) for p in PEERS
                     if p.endswith(prec) and (p, b) in ips]
            best = max(peers) if peers else (None, f"any {prec} peer")
            out.append(ratio_line(f"resnet50_{prec}_b{b}", "ours", ips.get((f"ours-{prec}", b)),
                                  best[1], best[0]))
        out.append(ratio_line(f"resnet50_ours_int8_vs_fp32_b{b}", "ours-int8",
                              ips.get(("ours-int8", b)), "ours-fp32", ips.get(("ours-fp32", b))))
    return out


def cpu_name():
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return f"{names[0]} ({len(names)} logical cores)" if names else "unknown"


def read_lines(path):
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def read_json(path):
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def cmd_report(a):
    with open(a.results) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if not rows:
        sys.exit("[peers] report: no figures in " + a.results)
    med = medians(rows)
    batches = sorted({b for _, b in med})
    print(f"{'row':<12}{'batch':>6}{'img/s':>10}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}"
          f"{'rounds':>8}")
    for (name, b), m in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"{name:<12}{b:>6}{m['images_per_sec']:>10.1f}{m['p50_ms']:>10.1f}"
              f"{m['p90_ms']:>10.1f}{m['p99_ms']:>10.1f}{m['rounds']:>8}")
    comps = comparisons(med, batches)
    for _, line in comps:
        print(line)
    summary = {"model": "resnet50", "image_size": a.image_size, "threads": a.threads,
               "seconds_per_run": a.seconds_per_run, "cpu": cpu_name(),
               "rounds": max((int(r["round"]) for r in rows), default=0),
               "failed": read_lines(a.failed), "prepared": read_json(a.prepared),
               "medians": [{"name": n, "batch": b, **m} for (n, b), m in sorted(med.items())],
               "comparisons": [c for c, _ in comps], "runs": rows, "versions": versions()}
    with open(a.out + ".tmp", "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


# ------------------------------------------------------------------------------------- main


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("prepare", help="write the model files and calibration images")
    pr.add_argument("--out", required=True)
    pr.add_argument("--image-size", type=int, default=224)
    pr.add_argument("--calib-images", type=int, default=100)
    pr.add_argument("--seed", type=int, default=0)
    ru = sub.add_parser("run", help="time one peer at one batch size")
    ru.add_argument("--dir", required=True, help="the folder `prepare` wrote")
    ru.add_argument("--peer", required=True, choices=PEERS)
    ru.add_argument("--batch", type=int, required=True)
    ru.add_argument("--seconds", type=float, default=10.0, help="timed seconds (after warmup)")
    ru.add_argument("--threads", type=int, required=True)
    ru.add_argument("--warmup", type=int,
                    help="untimed calls first (default: 5 at batch 1 down to 1 from batch 8)")
    ru.add_argument("--json", action="store_true",
                    help="one JSON line on stdout (the readable line goes to stderr)")
    ru.add_argument("--perf-counts", metavar="FILE",
                    help="ov-*: also write OpenVINO's per-layer PERF_COUNT table (TSV)")
    re = sub.add_parser("report", help="medians and ratios from bench/infer_cpu.sh's rows")
    re.add_argument("--results", required=True, help="JSON lines: name, batch, round, figures")
    re.add_argument("--out", required=True, help="summary.json to write")
    re.add_argument("--image-size", type=int, default=224)
    re.add_argument("--threads", type=int, default=2)
    re.add_argument("--seconds-per-run", type=float)
    re.add_argument("--failed", help="file of rows that failed, one a line (kept in summary)")
    re.add_argument("--prepared", help="the model folder's prepared.json (kept in summary)")
    return p.parse_args(argv)


def main(argv):
    a = parse_args(argv)
    {"prepare": cmd_prepare, "run": cmd_run, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main(sys.argv[1:])
