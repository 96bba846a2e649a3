"""The Python half of tests/onnx/run_onnx_torchvision.sh: makes a runnable model from a stripped
fixture (tests/fixtures/make_onnx_fixtures.py), runs it in ONNX Runtime, and judges
`scaledl infer --onnx`'s logits against ONNX Runtime's. Needs numpy, onnx and onnxruntime
(the venv of scripts/checkers_venv); torch is not needed.

  prepare --model X.graph.onnx --work DIR [--seed S]
      DIR/full.onnx   the fixture with every initializer that has no data refilled from numpy
                      default_rng(S), in the file's initializer order, by rank:
                        4-D float (conv weight [O, C/g, kh, kw])  normal(0, sqrt(2 / fan_in)),
                                                                   fan_in = C/g * kh * kw
                        2-D float (Gemm weight [out, in])         normal(0, sqrt(1 / in))
                        1-D float (bias)                          normal(0, 0.05)
                      initializers that kept their data (and Constant nodes) stay as they are
      DIR/x.npy       float32 [16, 3, H, W], standard normal from default_rng(S + 1)
      DIR/x.labels.npy  int64 zeros (`scaledl infer --data npy:` wants labels beside the images)
      DIR/ort.npy     ONNX Runtime's logits (CPU, fp32, one thread)
  compare --ort ORT.npy --ours OURS.npy
      passes when the shapes agree, ours is finite, max|ours - ort| <= 1e-4 * max|ort|, the
      argmax agrees on every image, and ONNX Runtime's logits are not degenerate (their std
      over the batch, averaged over classes, above 1e-3 * max|ort|: otherwise a wrong model
      could still match); prints the figures; exit 1 naming each failed condition
  compare --ort ORT.npy --self-test
      proves the comparison can fail: ORT's logits against themselves (plus rounding-size noise)
      must pass, and against copies with one value flipped in sign, one value nudged by 1e-3
      of the max, or every row replaced by the first (degenerate) must each fail; exit 1 if not
"""
import argparse
import os
import sys

import numpy as np

BATCH = 16
RTOL = 1e-4  # of max|ort|
MIN_SPREAD = 1e-3  # batch std of ORT's logits, as a fraction of max|ort|


def refill(model, seed):
    """Fills the initializers that have no data, in place; returns how many, by rank."""
    from onnx import TensorProto, numpy_helper

    rng = np.random.default_rng(seed)
    counts = {}
    for t in model.graph.initializer:
        dims = list(t.dims)
        if t.raw_data or t.float_data or int(np.prod(dims)) == 0:
            continue  # kept its data (or is empty): left alone
        if t.data_type != TensorProto.FLOAT or len(dims) not in (1, 2, 4):
            raise SystemExit("cannot refill %s: data_type %d, dims %s" % (t.name, t.data_type, dims))
        if len(dims) == 4:
            std = np.sqrt(2.0 / (dims[1] * dims[2] * dims[3]))
        elif len(dims) == 2:
            std = np.sqrt(1.0 / dims[1])
        else:
            std = 0.05
        values = rng.normal(0.0, std, size=dims).astype(np.float32)
        t.CopyFrom(numpy_helper.from_array(values, t.name))
        counts[len(dims)] = counts.get(len(dims), 0) + 1
    return counts


def cmd_prepare(a):
    import onnx
    import onnxruntime as ort

    model = onnx.load(a.model)
    counts = refill(model, a.seed)
    del model.metadata_props[:]  # the "scaledl.stripped" note no longer holds
    onnx.checker.check_model(model)
    full = os.path.join(a.work, "full.onnx")
    onnx.save(model, full)

    dims = model.graph.input[0].type.tensor_type.shape.dim
    shape = (BATCH,) + tuple(d.dim_value for d in dims[1:])
    x = np.random.default_rng(a.seed + 1).standard_normal(shape).astype(np.float32)
    np.save(os.path.join(a.work, "x.npy"), x)
    np.save(os.path.join(a.work, "x.labels.npy"), np.zeros(BATCH, dtype=np.int64))

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(full, so, providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0].astype(np.float32)
    np.save(os.path.join(a.work, "ort.npy"), y)
    print("prepared %s: refilled %s initializers (by rank), %d nodes; input %s; ORT logits %s"
          % (os.path.basename(a.model), dict(sorted(counts.items())), len(model.graph.node),
             list(shape), list(y.shape)))


def check(ort, ours):
    """The failed conditions (empty: pass) and the figures, as text."""
    ort = np.asarray(ort, dtype=np.float64)
    ours = np.asarray(ours, dtype=np.float64)
    if ours.shape != ort.shape:
        return ["logits shape %s, ONNX Runtime's %s" % (list(ours.shape), list(ort.shape))], ""
    failed = []
    max_ort = float(np.abs(ort).max())
    spread = float(ort.std(axis=0).mean())
    if not np.isfinite(ours).all():
        failed.append("ours has %d non-finite values" % int((~np.isfinite(ours)).sum()))
    diff = float(np.nan_to_num(np.abs(ours - ort), nan=np.inf).max())
    if not diff <= RTOL * max_ort:
        failed.append("max|ours-ort| %.3g > %g * max|ort| (%.3g)" % (diff, RTOL, RTOL * max_ort))
    agree = int((ours.argmax(axis=1) == ort.argmax(axis=1)).sum())
    if agree != len(ort):
        failed.append("argmax agrees on %d of %d images" % (agree, len(ort)))
    if not spread > MIN_SPREAD * max_ort:
        failed.append("ORT's logits are degenerate: batch std %.3g <= %g * max|ort| (%.3g)"
                      % (spread, MIN_SPREAD, MIN_SPREAD * max_ort))
    top2 = np.sort(ort, axis=1)[:, -2:]
    figures = ("max|ort| %.4g, max|ours-ort| %.3g (%.2e of max|ort|), argmax %d/%d, batch std "
               "%.3g (%.2e of max|ort|), least top-2 gap %.3g"
               % (max_ort, diff, diff / max_ort if max_ort else np.inf, agree, len(ort), spread,
                  spread / max_ort if max_ort else 0.0, float((top2[:, 1] - top2[:, 0]).min())))
    return failed, figures


def self_test(ort):
    big = np.unravel_index(np.abs(ort).argmax(), ort.shape)
    flipped = ort.copy()
    flipped[big] = -flipped[big]
    nudged = ort.copy()
    nudged[-1, 0] += 1e-3 * np.abs(ort).max()
    noise = np.random.default_rng(1).standard_normal(ort.shape) * 1e-7 * np.abs(ort).max()
    cases = [("itself plus 1e-7 noise", ort, ort + noise, True),
             ("one value flipped in sign", ort, flipped, False),
             ("one value nudged by 1e-3 of max", ort, nudged, False),
             ("degenerate logits", np.repeat(ort[:1], len(ort), axis=0),
              np.repeat(ort[:1], len(ort), axis=0), False)]
    ok = True
    for name, ref, ours, should_pass in cases:
        failed, _ = check(ref, ours)
        good = (not failed) == should_pass
        ok &= good
        print("self-test %-32s %s (%s)" % (name + ":", "ok" if good else "WRONG",
                                          "; ".join(failed) or "passes"))
    return ok


def cmd_compare(a):
    ort = np.load(a.ort)
    if a.self_test:
        sys.exit(0 if self_test(ort.astype(np.float64)) else 1)
    failed, figures = check(ort, np.load(a.ours))
    print(figures)
    for f in failed:
        print("FAIL: " + f)
    sys.exit(1 if failed else 0)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("prepare", help="refill the fixture, make inputs, ORT's logits")
    pr.add_argument("--model", required=True, help="a stripped *.graph.onnx")
    pr.add_argument("--work", required=True)
    pr.add_argument("--seed", type=int, default=0)
    co = sub.add_parser("compare", help="ours against ONNX Runtime (exit 1 on a mismatch)")
    co.add_argument("--ort", required=True)
    co.add_argument("--ours")
    co.add_argument("--self-test", action="store_true",
                    help="check that perturbed logits fail (no --ours needed)")
    a = p.parse_args(argv)
    if a.cmd == "compare" and not a.self_test and not a.ours:
        p.error("compare needs --ours (or --self-test)")
    return a


def main(argv):
    a = parse_args(argv)
    {"prepare": cmd_prepare, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    main(sys.argv[1:])
