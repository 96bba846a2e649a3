"""The Python side of bench/onnx_qdq_resnet50.sh: ONNX Runtime's static QDQ ResNet-50 run by
ONNX Runtime and by `scaledl infer --onnx`, on photographs. Run it inside the venv
bench/infer_venv.sh makes (torch, onnxruntime, Pillow, numpy, safetensors).

  photos --jpeg DIR --out DIR --calib-images 100 --images 1000
      the JPEGs bench/make_jpeg_set.py wrote (DIR/train.csv order) -> float32 NCHW npy:
      calib.npy (the first 100) and eval.npy (the next 1000, with eval.labels.npy: the photo
      each came from, 0..9; scaledl needs labels beside npy data, they mean nothing to a random
      1000-class net). Each: RGB, shorter side resized to 256 (Pillow bilinear, antialiased),
      centre crop 224, pixel/255, ImageNet mean/std.
  prepare --out MODEL --photos DIR --seed 0
      bench/infer_peers.py's model, calibrated on the photos instead of its synthetic images:
      torchvision resnet50() under the seed with a random BN affine and BN statistics measured
      on 16 photos, as resnet50.safetensors (scaledl's checkpoint), resnet50.onnx (opset 17,
      dynamic batch) and resnet50_int8_qdq.onnx (ORT quantize_static: QDQ, per-channel QInt8
      weights, QUInt8 activations, entropy over the 100 calibration photos); calib.npy beside
      them, so `bench/infer_peers.py run --dir MODEL --peer ort-int8` times this model.
      prepared.json (written last) marks a finished folder.
  logits --model M.onnx --data X.npy --out L.npy --threads T [--opt all|none] [--batch 32]
      ONNX Runtime's logits for every image (all: its graph optimizations, the fused integer
      kernels for QDQ; none: the QDQ graph as written, dequantize -> float op -> quantize).
  report --work WORK ...
      agreement and cosine between the logit files, medians of the speed rows, the verdicts,
      WORK/summary.json.
"""
import argparse
import csv
import hashlib
import json
import os
import sys
import time

import numpy as np

MEAN = np.array((0.485, 0.456, 0.406), np.float32).reshape(1, 3, 1, 1)
STD = np.array((0.229, 0.224, 0.225), np.float32).reshape(1, 3, 1, 1)
RESIZE, CROP = 256, 224
PREPARE_FORMAT = 1  # bump when prepare's files change: the shell script then remakes them
AGREEMENT_TARGET, COSINE_TARGET = 0.99, 0.9995
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print("[qdq] " + msg, file=sys.stderr, flush=True)


def save_atomic(path, array):
    tmp = path + ".tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


# ------------------------------------------------------------------------------------ photos


def load_photo(path):
    """One JPEG -> float32 [3, 224, 224], ImageNet-normalized."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = RESIZE / min(w, h)
        im = im.resize((max(RESIZE, round(w * s)), max(RESIZE, round(h * s))), Image.BILINEAR)
        w, h = im.size
        left, top = (w - CROP) // 2, (h - CROP) // 2
        im = im.crop((left, top, left + CROP, top + CROP))
        x = np.asarray(im, np.float32).transpose(2, 0, 1) / 255.0
    return x


def cmd_photos(a):
    with open(os.path.join(a.jpeg, "train.csv")) as f:
        rows = [(r["path"], int(r["label"])) for r in csv.DictReader(f)]
    need = a.calib_images + a.images
    if len(rows) < need:
        sys.exit(f"[qdq] {a.jpeg} has {len(rows)} images, {need} needed")
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    for name, part in (("calib", rows[:a.calib_images]), ("eval", rows[a.calib_images:need])):
        x = np.lib.format.open_memmap(os.path.join(a.out, name + ".tmp.npy"), "w+", np.float32,
                                      (len(part), 3, CROP, CROP))
        for i, (rel, _) in enumerate(part):
            x[i] = (load_photo(os.path.join(a.jpeg, rel))[None] - MEAN) / STD
        x.flush()
        del x
        os.replace(os.path.join(a.out, name + ".tmp.npy"), os.path.join(a.out, name + ".npy"))
        save_atomic(os.path.join(a.out, name + ".labels.npy"),
                    np.array([c for _, c in part], np.int64))
        log(f"{name}.npy: {len(part)} photos [N,3,{CROP},{CROP}]")
    info = {"jpeg": os.path.abspath(a.jpeg), "calib_images": a.calib_images, "images": a.images,
            "preprocess": f"RGB, shorter side {RESIZE} (Pillow bilinear), centre crop {CROP}, "
                          "pixel/255, ImageNet mean/std",
            "csv_sha256": hashlib.sha256(open(os.path.join(a.jpeg, "train.csv"), "rb")
                                         .read()).hexdigest()[:16],
            "seconds": round(time.time() - t0, 1)}
    write_json(os.path.join(a.out, "photos.json"), info)


# ----------------------------------------------------------------------------------- prepare


def cmd_prepare(a):
    import torch

    import infer_peers as peers  # bench/infer_peers.py: one model recipe for both benchmarks

    os.makedirs(a.out, exist_ok=True)
    marker = os.path.join(a.out, "prepared.json")
    if os.path.exists(marker):
        os.remove(marker)
    t0 = time.time()
    calib = np.load(os.path.join(a.photos, "calib.npy"))
    np.save(os.path.join(a.out, "calib.npy"), calib)
    size = calib.shape[-1]
    model = peers.build_model(a.seed, calib)
    meta = peers.checkpoint_metadata(a.seed, size, len(calib))
    cfg = json.loads(meta["config"])
    cfg.update(made_by="bench/onnx_qdq_resnet50.py prepare", calibration_images="photographs")
    meta["config"] = json.dumps(cfg)
    peers.write_checkpoint(model, os.path.join(a.out, "resnet50.safetensors"), meta)
    with torch.inference_mode():
        ref = model(torch.from_numpy(calib[:peers.REF_IMAGES])).numpy()
    fp32 = os.path.join(a.out, "resnet50.onnx")
    int8 = os.path.join(a.out, "resnet50_int8_qdq.onnx")
    peers.export_onnx(model, fp32, size)
    log("ORT static quantization (entropy, 100 photos): a few minutes")
    peers.quantize_int8(fp32, int8, calib, a.out)
    info = {"prepare_format": PREPARE_FORMAT, "seed": a.seed, "image_size": size,
            "calib_images": len(calib), "photos": json.load(open(os.path.join(a.photos,
                                                                              "photos.json"))),
            "calibration": "onnxruntime quantize_static, CalibrationMethod.Entropy, QDQ, "
                           "per-channel QInt8 weights, QUInt8 activations",
            "versions": peers.versions(), "seconds": round(time.time() - t0, 1),
            "ort_fp32_vs_torch": peers.check_onnx(fp32, calib, ref),
            "ort_int8_vs_torch": peers.check_onnx(int8, calib, ref)}
    write_json(marker, info)
    log(f"prepared {a.out} in {info['seconds']} s")


# ------------------------------------------------------------------------------------ logits


def cmd_logits(a):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if a.opt == "all"
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    x = np.load(a.data, mmap_mode="r")
    t0 = time.time()
    out = [sess.run(None, {"input": np.ascontiguousarray(x[i:i + a.batch])})[0]
           for i in range(0, len(x), a.batch)]
    save_atomic(a.out, np.concatenate(out).astype(np.float32))
    log(f"{os.path.basename(a.model)} ({a.opt} optimizations): {len(x)} images in "
        f"{time.time() - t0:.1f} s -> {a.out}")


# ------------------------------------------------------------------------------------ report


def compare(a, b):
    """Top-1 agreement, mean/min row cosine, max |a - b| of two [N, classes] logit arrays."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1),
                                      1e-30)
    return {"images": len(a), "top1_agreement": round(float(np.mean(a.argmax(1) == b.argmax(1))),
                                                      5),
            "cosine_mean": round(float(cos.mean()), 7), "cosine_min": round(float(cos.min()), 7),
            "max_abs_diff": float(np.abs(a - b).max())}


def read_json(path):
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def cmd_report(a):
    import infer_peers as peers

    w = a.work
    lg = lambda name: os.path.join(w, "logits", name + ".npy")  # noqa: E731
    pairs = [  # name, A, B, what it says
        ("ours_int8_vs_ort_int8", "ours_onnx_int8", "ort_int8",
         "scaledl infer --onnx (int8) against ONNX Runtime on the QDQ model: the target"),
        ("ours_int8_vs_ort_int8_as_written", "ours_onnx_int8", "ort_int8_noopt",
         "against ONNX Runtime without graph optimizations (the QDQ graph's own arithmetic)"),
        ("ort_int8_vs_ort_int8_as_written", "ort_int8", "ort_int8_noopt",
         "ONNX Runtime's fused integer kernels against its own QDQ-as-written run"),
        ("ort_int8_vs_ort_fp32", "ort_int8", "ort_fp32",
         "the noise floor: ONNX Runtime int8 against fp32 on the same weights"),
        ("ours_int8_vs_ort_fp32", "ours_onnx_int8", "ort_fp32",
         "ours int8 (--onnx) against ONNX Runtime fp32"),
        ("ours_fp32_vs_ort_fp32", "ours_onnx_fp32", "ort_fp32",
         "scaledl infer --onnx (fp32) on resnet50.onnx against ONNX Runtime fp32 (the import)"),
    ]
    logits = {}
    accuracy = {}
    print(f"\nlogits on {a.images} photographs (ResNet-50, fixed-seed random weights):")
    for name, x, y, what in pairs:
        if not (os.path.exists(lg(x)) and os.path.exists(lg(y))):
            print(f"  {name}: n/a (no {x if not os.path.exists(lg(x)) else y} logits)")
            continue
        for k in (x, y):
            logits.setdefault(k, np.load(lg(k)))
        c = compare(logits[x], logits[y])
        c["what"] = what
        accuracy[name] = c
        print(f"  {name}: top-1 agreement {100 * c['top1_agreement']:.1f}%, cosine mean "
              f"{c['cosine_mean']:.6f} (min {c['cosine_min']:.6f}), max |diff| "
              f"{c['max_abs_diff']:.3g}   [{what}]")
    logit_stats = {}
    if "ort_fp32" in logits:
        top = np.sort(logits["ort_fp32"], 1)
        gap = float(np.median(top[:, -1] - top[:, -2]))
        span = float(np.median(top[:, -1] - top[:, 0]))
        print(f"  fp32 logits: median gap between the top two {gap:.3g}, median row range "
              f"{span:.3g} (a small gap against the int8 error is why argmax is fragile here)")
        logit_stats = {"ort_fp32_median_top2_gap": gap, "ort_fp32_median_row_range": span}
    if "ort_int8" in logits:
        # ORT's quantizer also quantizes the output (a QuantizeLinear on the logits): ties at
        # the top then decide argmax by index, while ours keeps the output in f32.
        x = logits["ort_int8"]
        tied = float(np.mean((x == x.max(1, keepdims=True)).sum(1) > 1))
        step = float(np.min(np.diff(np.unique(x[0])))) if x.shape[1] > 1 else 0.0
        logit_stats["ort_int8_rows_with_tied_top"] = tied
        logit_stats["ort_int8_logit_step"] = step
        print(f"  ORT int8 logits come quantized (step {step:.4g}): {100 * tied:.1f}% of rows have "
              "a tie for the top class")
    verdict = {}
    t = accuracy.get("ours_int8_vs_ort_int8")
    if t:
        verdict = {"agreement": t["top1_agreement"], "agreement_target": AGREEMENT_TARGET,
                   "agreement_met": t["top1_agreement"] >= AGREEMENT_TARGET,
                   "cosine_mean": t["cosine_mean"], "cosine_target": COSINE_TARGET,
                   "cosine_met": t["cosine_mean"] >= COSINE_TARGET}
        floor = accuracy.get("ort_int8_vs_ort_fp32")
        if floor:
            verdict["noise_floor_agreement"] = floor["top1_agreement"]
            verdict["noise_floor_cosine"] = floor["cosine_mean"]
        print(f"target: agreement >= {100 * AGREEMENT_TARGET:.0f}%: "
              f"{'met' if verdict['agreement_met'] else 'NOT met'} "
              f"({100 * t['top1_agreement']:.1f}%); cosine >= {COSINE_TARGET}: "
              f"{'met' if verdict['cosine_met'] else 'NOT met'} ({t['cosine_mean']:.6f})")
        if not verdict["agreement_met"] and floor:
            print(f"  noise floor (ORT int8 against ORT fp32): agreement "
                  f"{100 * floor['top1_agreement']:.1f}%, cosine {floor['cosine_mean']:.6f}: "
                  "with random weights the top-1 of near-tied logits flips under any int8 "
                  "rounding difference")

    rows = []
    if a.results and os.path.exists(a.results):
        with open(a.results) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    speed = {}
    for r in rows:
        speed.setdefault(r["name"], []).append(r)
    med = {n: {m: float(np.median([r[m] for r in rs])) for m in
               ("images_per_sec", "p50_ms", "p90_ms", "p99_ms")} | {"rounds": len(rs)}
           for n, rs in speed.items()}
    if med:
        print(f"\nint8 speed, batch {a.batch}, {a.threads} threads, medians of the rounds:")
        for n in ("ours-onnx-int8", "ours-ckpt-int8", "ort-int8"):
            if n in med:
                m = med[n]
                print(f"  {n:<16}{m['images_per_sec']:>9.1f} img/s  p50 {m['p50_ms']:.1f} ms  "
                      f"p90 {m['p90_ms']:.1f} ms  ({m['rounds']} rounds)")
            else:
                print(f"  {n:<16}      n/a")
        ips = {n: m["images_per_sec"] for n, m in med.items()}
        for x, y in (("ours-onnx-int8", "ort-int8"), ("ours-onnx-int8", "ours-ckpt-int8"),
                     ("ours-ckpt-int8", "ort-int8")):
            if x in ips and y in ips:
                print(f"  {x} / {y}: {ips[x] / ips[y]:.2f}")
    summary = {"model": "resnet50 (fixed-seed random weights, bench/infer_peers.py recipe)",
               "images": a.images, "batch": a.batch, "threads": a.threads,
               "seconds_per_run": a.seconds_per_run, "cpu": peers.cpu_name(),
               "scaledl": a.scaledl_version, "accuracy": accuracy, "verdict": verdict,
               "logit_stats": logit_stats,
               "speed_medians": med, "speed_runs": rows,
               "ours_runs": {k: read_json(os.path.join(w, "runs", k, "summary.json"))
                             for k in ("ours_onnx_int8-acc", "ours_onnx_fp32-acc")},
               "failed": [line.strip() for line in open(a.failed)] if a.failed and
               os.path.exists(a.failed) else [],
               "prepared": read_json(os.path.join(w, "model", "prepared.json")),
               "versions": peers.versions()}
    write_json(os.path.join(w, "summary.json"), summary)
    print(f"\nall figures: {os.path.join(w, 'summary.json')}")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    ph = sub.add_parser("photos")
    ph.add_argument("--jpeg", required=True)
    ph.add_argument("--out", required=True)
    ph.add_argument("--calib-images", type=int, default=100)
    ph.add_argument("--images", type=int, default=1000)
    pr = sub.add_parser("prepare")
    pr.add_argument("--out", required=True)
    pr.add_argument("--photos", required=True)
    pr.add_argument("--seed", type=int, default=0)
    lo = sub.add_parser("logits")
    lo.add_argument("--model", required=True)
    lo.add_argument("--data", required=True)
    lo.add_argument("--out", required=True)
    lo.add_argument("--threads", type=int, default=2)
    lo.add_argument("--batch", type=int, default=32)
    lo.add_argument("--opt", choices=["all", "none"], default="all")
    re = sub.add_parser("report")
    re.add_argument("--work", required=True)
    re.add_argument("--results", help="JSON lines of the speed rows: name, round, figures")
    re.add_argument("--failed")
    re.add_argument("--images", type=int, default=1000)
    re.add_argument("--batch", type=int, default=32)
    re.add_argument("--threads", type=int, default=2)
    re.add_argument("--seconds-per-run", type=float)
    re.add_argument("--scaledl-version", default="")
    a = p.parse_args(argv)
    {"photos": cmd_photos, "prepare": cmd_prepare, "logits": cmd_logits,
     "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main(sys.argv[1:])
