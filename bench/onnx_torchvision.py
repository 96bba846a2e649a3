"""torchvision models as ONNX files, ONNX Runtime's logits for them, and the comparison with
`scaledl infer --onnx`'s logits. Run it inside the venv bench/infer_venv.sh makes (torch,
torchvision, onnx, onnxruntime); bench/onnx_torchvision.sh drives it.

  export --work DIR [--models A,B]   DIR/NAME.onnx for each model (see export_model) and the
                                     inputs DIR/x16.npy (float32 [16,3,224,224], standard
                                     normal from numpy default_rng(0)) with DIR/x16.labels.npy
                                     (int64 zeros: `scaledl infer --data npy:` wants labels)
  ort --work DIR [--models A,B]      DIR/NAME.ort.npy: ONNX Runtime's fp32 logits for x16.npy
  compare --work DIR [--models A,B]  one line per model, max|ours - ort| / max|ort| against
                                     TOLERANCE, from DIR/NAME.ours.npy (or the one-line error
                                     in DIR/NAME.error), a final count, and DIR/summary.json;
                                     exit 1 unless every model passes. Each line also gives the
                                     spread, ORT's batch std (mean over classes) / max|ort|:
                                     below 1e-3 the line says WEAK, as the logits then hardly
                                     depend on the input (googlenet's own init, std 0.01
                                     weights, shrinks the trunk's output to about 2e-11, so
                                     its logits are the classifier's bias to fp32 precision
                                     and only tests/onnx's refilled googlenet checks the trunk)

The export is the TorchScript exporter (dynamo=False; torch 2.15 still has it, with a
deprecation warning that is silenced here), opset 17, constant folding on (which folds batch
norm into the convolutions), input "input" and output "logits" with a dynamic batch axis.
tests/fixtures/make_onnx_fixtures.py imports export_model, so the committed fixtures are made
exactly as these files are.
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np

MODELS = ("resnet50", "resnet101", "resnet152", "vgg16", "vgg19", "googlenet", "alexnet",
          "mobilenet_v2")
BATCH, SIZE, OPSET = 16, 224, 17
TOLERANCE = 1e-4  # max|ours - ort| / max|ort|
WEAK_SPREAD = 1e-3  # batch std of ORT's logits / max|ort| below this: the check says little


def build_model(name):
    """torchvision's NAME with random weights, initialised under torch.manual_seed(0), in eval."""
    import torch
    import torchvision

    torch.manual_seed(0)
    kwargs = {"weights": None}
    if name == "googlenet":  # no auxiliary heads, its own init, raw (un-re-normalized) input
        kwargs.update(aux_logits=False, init_weights=True, transform_input=False)
    return getattr(torchvision.models, name)(**kwargs).eval()


def export_model(name, path):
    import torch

    model = build_model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (torch.zeros(1, 3, SIZE, SIZE),), path, dynamo=False,
                          opset_version=OPSET, do_constant_folding=True,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def model_list(arg):
    names = [m for m in arg.split(",") if m] if arg else list(MODELS)
    bad = [m for m in names if m not in MODELS]
    if bad:
        sys.exit("unknown model(s): %s (known: %s)" % (",".join(bad), ",".join(MODELS)))
    return names


def cmd_export(a):
    os.makedirs(a.work, exist_ok=True)
    x = np.random.default_rng(0).standard_normal((BATCH, 3, SIZE, SIZE)).astype(np.float32)
    np.save(os.path.join(a.work, "x16.npy"), x)
    np.save(os.path.join(a.work, "x16.labels.npy"), np.zeros(BATCH, dtype=np.int64))
    for name in model_list(a.models):
        path = os.path.join(a.work, name + ".onnx")
        export_model(name, path + ".tmp")
        os.replace(path + ".tmp", path)
        print("[onnx] exported %s (%.1f MB)" % (path, os.path.getsize(path) / 1e6), file=sys.stderr)


def ort_logits(path, x, threads=1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def cmd_ort(a):
    x = np.load(os.path.join(a.work, "x16.npy"))
    for name in model_list(a.models):
        y = ort_logits(os.path.join(a.work, name + ".onnx"), x, a.threads)
        np.save(os.path.join(a.work, name + ".ort.npy"), y.astype(np.float32))
        print("[onnx] ORT %s: logits %s" % (name, list(y.shape)), file=sys.stderr)


def compare_one(work, name):
    """The figures for one model: from its logits, or its import/run error."""
    err_path = os.path.join(work, name + ".error")
    if os.path.exists(err_path):
        with open(err_path) as f:
            return {"model": name, "pass": False, "error": f.read().strip() or "(no message)"}
    ort = np.load(os.path.join(work, name + ".ort.npy")).astype(np.float64)
    ours = np.load(os.path.join(work, name + ".ours.npy")).astype(np.float64)
    if ours.shape != ort.shape:
        return {"model": name, "pass": False,
                "error": "logits shape %s, ONNX Runtime's %s" % (list(ours.shape), list(ort.shape))}
    max_ort = float(np.abs(ort).max())
    max_diff = float(np.abs(ours - ort).max())
    rel = max_diff / max_ort if max_ort > 0 else float("inf")
    spread = float(ort.std(axis=0).mean()) / max_ort if max_ort > 0 else 0.0
    return {"model": name, "pass": bool(rel <= TOLERANCE), "rel_err": rel, "max_abs_diff": max_diff,
            "max_abs_ort": max_ort, "spread": spread,
            "argmax_agree": int((ours.argmax(1) == ort.argmax(1)).sum()), "images": len(ort)}


def versions():
    out = {}
    for mod in ("torch", "torchvision", "onnx", "onnxruntime", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = None
    return out


def cmd_compare(a):
    rows = [compare_one(a.work, name) for name in model_list(a.models)]
    for r in rows:
        if "error" in r:
            print("%-13s FAIL  %s" % (r["model"], r["error"]))
        else:
            weak = r["spread"] < WEAK_SPREAD
            print("%-13s %s  max|ours-ort|/max|ort| %.2e  (max|ort| %.3g, spread %.1e, "
                  "argmax %d/%d)%s"
                  % (r["model"], "PASS" if r["pass"] else "FAIL", r["rel_err"], r["max_abs_ort"],
                     r["spread"], r["argmax_agree"], r["images"],
                     "  WEAK: the logits barely depend on the input" if weak else ""))
    passed = sum(r["pass"] for r in rows)
    print("passed %d of %d (tolerance %g of max|ort|)" % (passed, len(rows), TOLERANCE))
    summary = {"tolerance": TOLERANCE, "batch": BATCH, "image_size": SIZE, "opset": OPSET,
               "passed": passed, "total": len(rows), "models": rows, "versions": versions()}
    out = os.path.join(a.work, "summary.json")
    with open(out + ".tmp", "w") as f:
        json.dump(summary, f, indent=1)
    os.replace(out + ".tmp", out)
    print("summary: " + out)
    sys.exit(0 if passed == len(rows) else 1)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for cmd, helptext in (("export", "write NAME.onnx and x16.npy"),
                          ("ort", "ONNX Runtime's logits, NAME.ort.npy"),
                          ("compare", "ours against ONNX Runtime; summary.json")):
        s = sub.add_parser(cmd, help=helptext)
        s.add_argument("--work", required=True)
        s.add_argument("--models", default="", help="comma-separated (default: all eight)")
        if cmd == "ort":
            s.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def main(argv):
    a = parse_args(argv)
    {"export": cmd_export, "ort": cmd_ort, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    main(sys.argv[1:])
