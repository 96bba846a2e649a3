"""ONNX Runtime as the reference for `scaledl export` (tests/onnx/run_onnx_export.sh): checks an
exported model, runs it on npy images and compares logits. numpy, onnx and onnxruntime only
(the venv of scripts/checkers_venv).

  check MODEL.onnx [--qdq] [--json OUT]
      onnx.checker.check_model(full_check=True) (strict shape inference included); the input is
      'input' [N,C,H,W] float and the output 'logits'. With --qdq also the quantized form: the
      number of QuantizeLinear/DequantizeLinear nodes, the int8 initializers, and every
      Conv/Gemm/MatMul weight coming from a DequantizeLinear of an int8 initializer with one
      scale per output channel (axis 0) and zero points 0 (symmetric, as our engine quantizes).
  run MODEL.onnx --data X.npy [--labels L.npy] [--batch B] [--threads T] [--opt all|none]
      [--save-logits OUT.npy] [--json OUT]
      ONNX Runtime (CPU) on X (float32 [N,C,H,W], fed as is), in batches of B (a model with a
      fixed batch dimension gets that many, the last batch padded); top-1 against L. --opt none
      turns ORT's graph optimizations off: a QDQ model then runs as written (dequantize, float
      op, quantize), with them on ORT fuses the QDQ groups into its integer kernels.
  quantize FP32.onnx OUT.onnx --calib X.npy [--images 500] [--batch 100] [--json OUT]
      ONNX Runtime's own static quantization of an fp32 model, as its users run it:
      quant_pre_process (ONNX shape inference, then ORT's graph optimizations, which fold batch
      norms into the convolutions; its symbolic shape inference is skipped, it needs sympy), then
      quantize_static: QDQ format, QUInt8 activations, per-channel QInt8 weights, MinMax
      calibration on the first N images of X (fed as is, in batches of B). Prints what the
      result holds: its activation QuantizeLinear nodes, which of them are asymmetric (a
      non-zero zero point) and whether the output itself is quantized.
  compare A.npy B.npy [--labels L.npy] [--json OUT]
      two [N, classes] logit arrays: top-1 agreement (fraction of rows whose argmax agrees), the
      mean and min cosine of the rows, max |A - B|, and each side's top-1 against L.

Every command prints one line of figures; --json also writes them. Exit 1 on a failed check.
"""
import argparse
import json
import sys

import numpy as np

INPUT, OUTPUT = "input", "logits"
WEIGHTED_OPS = {"Conv": 1, "Gemm": 1, "MatMul": 1}  # op -> input index of the weight


def fail(msg):
    print("ort_eval: FAIL " + msg, file=sys.stderr)
    sys.exit(1)


def write_json(path, obj):
    if path:
        with open(path, "w") as f:
            json.dump(obj, f, indent=1)


def top1(logits, labels):
    return round(100.0 * float(np.mean(logits.argmax(1) == labels)), 2)


# ------------------------------------------------------------------------------------ check


def io_signature(model):
    """(input name, elem type, rank) and output names of the graph (initializers excluded)."""
    inits = {t.name for t in model.graph.initializer}
    ins = [i for i in model.graph.input if i.name not in inits]
    return ins, [o.name for o in model.graph.output]


def qdq_figures(model):
    """What the QDQ form holds; a list of problems beside the figures."""
    from onnx import TensorProto, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    nodes = model.graph.node
    producer = {o: n for n in nodes for o in n.output}
    ops = [n.op_type for n in nodes]
    int8_inits = [t.name for t in inits.values() if t.data_type == TensorProto.INT8]
    uint8_inits = [t.name for t in inits.values() if t.data_type == TensorProto.UINT8]
    problems = []
    figures = {"nodes": len(nodes), "quantize_linear": ops.count("QuantizeLinear"),
               "dequantize_linear": ops.count("DequantizeLinear"),
               "int8_initializers": len(int8_inits), "uint8_initializers": len(uint8_inits),
               "op_counts": {op: ops.count(op) for op in sorted(set(ops))}}
    weights = []
    for n in nodes:
        if n.op_type not in WEIGHTED_OPS or len(n.input) <= WEIGHTED_OPS[n.op_type]:
            continue
        w = n.input[WEIGHTED_OPS[n.op_type]]
        dq = producer.get(w)
        where = f"{n.op_type} {n.name or n.output[0]}: weight {w}"
        if dq is None or dq.op_type != "DequantizeLinear":
            problems.append(f"{where} is not the output of a DequantizeLinear")
            continue
        q = inits.get(dq.input[0])
        if q is None or q.data_type != TensorProto.INT8:
            problems.append(f"{where}: its DequantizeLinear reads {dq.input[0]}, not an int8 "
                            "initializer")
            continue
        scale = inits.get(dq.input[1])
        scale = numpy_helper.to_array(scale) if scale is not None else None
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        channels = q.dims[0]
        if scale is None or scale.size != channels or (channels > 1 and axis != 0):
            problems.append(f"{where}: scale {None if scale is None else scale.shape} on axis "
                            f"{axis}, want one per output channel ({channels}) on axis 0")
        elif not np.all(scale > 0):
            problems.append(f"{where}: non-positive scales {scale[scale <= 0][:4].tolist()}")
        if len(dq.input) > 2:
            zp = inits.get(dq.input[2])
            if zp is not None and np.any(numpy_helper.to_array(zp) != 0):
                problems.append(f"{where}: non-zero weight zero points")
        weights.append(w)
    figures["quantized_weights"] = len(weights)
    if not weights:
        problems.append("no Conv/Gemm/MatMul weight is quantized")
    if figures["quantize_linear"] == 0:
        problems.append("no QuantizeLinear node (activations are not quantized)")
    if figures["dequantize_linear"] == 0:
        problems.append("no DequantizeLinear node")
    if not int8_inits:
        problems.append("no int8 initializer")
    # Activation QuantizeLinear nodes: their zero-point types (u8 after a ReLU, s8 otherwise).
    names = {TensorProto.UINT8: "uint8", TensorProto.INT8: "int8"}
    act = {"uint8": 0, "int8": 0}
    for n in nodes:
        if n.op_type == "QuantizeLinear" and len(n.input) > 2 and n.input[2] in inits:
            kind = names.get(inits[n.input[2]].data_type, "other")
            act[kind] = act.get(kind, 0) + 1
    figures["activation_quantize_types"] = act
    return figures, problems


def cmd_check(a):
    import onnx

    model = onnx.load(a.model)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # the checker's own exception types vary between versions
        fail(f"{a.model}: onnx.checker.check_model(full_check=True): {e}")
    ins, outs = io_signature(model)
    out = {"model": a.model, "ir_version": model.ir_version,
           "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
           "inputs": [i.name for i in ins], "outputs": outs, "checker": "passed"}
    problems = []
    if [i.name for i in ins] != [INPUT]:
        problems.append(f"graph inputs {[i.name for i in ins]}, want ['{INPUT}']")
    else:
        t = ins[0].type.tensor_type
        if t.elem_type != onnx.TensorProto.FLOAT or len(t.shape.dim) != 4:
            problems.append(f"input '{INPUT}' is not a float [N,C,H,W] tensor: "
                            f"{onnx.helper.printable_type(ins[0].type)}")
        out["input_shape"] = [d.dim_param or d.dim_value for d in t.shape.dim]
    if outs != [OUTPUT]:
        problems.append(f"graph outputs {outs}, want ['{OUTPUT}']")
    if a.qdq:
        figures, qproblems = qdq_figures(model)
        out["qdq"] = figures
        problems += qproblems
    out["problems"] = problems
    write_json(a.json, out)
    line = (f"check {a.model}: checker passed (full_check), opsets {out['opsets']}, "
            f"input {out.get('input_shape')}")
    if a.qdq:
        q = out["qdq"]
        line += (f"; QDQ: {q['quantize_linear']} QuantizeLinear, {q['dequantize_linear']} "
                 f"DequantizeLinear, {q['int8_initializers']} int8 initializers, "
                 f"{q['quantized_weights']} per-channel int8 weights, activations "
                 f"{q['activation_quantize_types']}")
    print(line)
    if problems:
        fail("; ".join(problems))


# -------------------------------------------------------------------------------------- run


def cmd_run(a):
    import onnxruntime as ort

    x = np.load(a.data, mmap_mode="r")
    if x.dtype != np.float32 or x.ndim != 4:
        fail(f"{a.data}: want float32 [N,C,H,W], got {x.dtype} {x.shape}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if a.opt == "all"
                                   else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    fixed = inp.shape[0] if isinstance(inp.shape[0], int) and inp.shape[0] > 0 else None
    batch = fixed or a.batch
    outs = []
    for i in range(0, len(x), batch):
        xb = np.ascontiguousarray(x[i:i + batch])
        n = len(xb)
        if n < batch and fixed:
            xb = np.concatenate([xb, np.zeros((batch - n,) + xb.shape[1:], np.float32)])
        outs.append(sess.run([OUTPUT], {INPUT: xb})[0][:n])
    logits = np.concatenate(outs).astype(np.float32)
    if a.save_logits:
        np.save(a.save_logits, logits)
    out = {"model": a.model, "images": len(logits), "classes": logits.shape[1], "batch": batch,
           "opt": a.opt, "onnxruntime": ort.__version__}
    line = f"onnxruntime {ort.__version__} ({a.opt} optimizations) on {len(logits)} images"
    if a.labels:
        labels = np.load(a.labels)
        out["top1"] = top1(logits, labels)
        line += f": top-1 {out['top1']:.2f}%"
    if not np.all(np.isfinite(logits)):
        fail(f"{a.model}: non-finite logits")
    write_json(a.json, out)
    print(line)


# --------------------------------------------------------------------------------- quantize


def activation_quantizers(model):
    """Every QuantizeLinear of an activation: tensor, scale, zero point and the range it covers."""
    from onnx import TensorProto, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    out = []
    for n in model.graph.node:
        if n.op_type != "QuantizeLinear" or n.input[0] in inits or n.input[1] not in inits:
            continue
        scale = float(numpy_helper.to_array(inits[n.input[1]]).reshape(-1)[0])
        zp_init = inits.get(n.input[2]) if len(n.input) > 2 else None
        zp = int(numpy_helper.to_array(zp_init).reshape(-1)[0]) if zp_init is not None else 0
        unsigned = zp_init is None or zp_init.data_type == TensorProto.UINT8
        qmin, qmax = (0, 255) if unsigned else (-128, 127)
        out.append({"tensor": n.input[0], "type": "uint8" if unsigned else "int8",
                    "scale": scale, "zero_point": zp,
                    "range": [(qmin - zp) * scale, (qmax - zp) * scale]})
    return out


def cmd_quantize(a):
    import os
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    x = np.load(a.calib, mmap_mode="r")
    if x.dtype != np.float32 or x.ndim != 4 or len(x) < a.images:
        fail(f"{a.calib}: want float32 [N,C,H,W] with N >= {a.images}, got {x.dtype} {x.shape}")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.todo = [np.ascontiguousarray(x[i:min(i + a.batch, a.images)])
                         for i in range(0, a.images, a.batch)]

        def get_next(self):
            return {INPUT: self.todo.pop(0)} if self.todo else None

    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "preprocessed.onnx")
        quant_pre_process(a.model, pre, skip_symbolic_shape=True)
        quantize_static(pre, a.out, Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, calibrate_method=CalibrationMethod.MinMax)
    model = onnx.load(a.out)
    figures, problems = qdq_figures(model)
    acts = activation_quantizers(model)
    asym = [q["tensor"] for q in acts if q["zero_point"] != 0]
    producer = {o: n for n in model.graph.node for o in n.output}
    out_dq = producer.get(OUTPUT)
    output_quantized = out_dq is not None and out_dq.op_type == "DequantizeLinear"
    out = {"model": a.model, "out": a.out, "onnxruntime": ort.__version__,
           "calib": a.calib, "calib_images": a.images, "qdq": figures,
           "activations": acts, "asymmetric": asym, "output_quantized": output_quantized,
           "problems": problems}
    write_json(a.json, out)
    print(f"quantize {a.model} -> {a.out}: onnxruntime {ort.__version__} quantize_static (QDQ, "
          f"u8 activations, per-channel s8 weights, MinMax on {a.images} images): "
          f"{figures['quantized_weights']} quantized weights, {len(acts)} activation "
          f"QuantizeLinear, {len(asym)} asymmetric ({', '.join(asym) or 'none'}), output "
          f"'{OUTPUT}' {'quantized' if output_quantized else 'float'}")
    if problems:
        fail("; ".join(problems))


# ---------------------------------------------------------------------------------- compare


def compare(a, b):
    if a.shape != b.shape:
        fail(f"logit shapes differ: {a.shape} against {b.shape}")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = (a64 * b64).sum(1) / np.maximum(np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1),
                                          1e-30)
    return {"images": len(a), "top1_agreement": float(np.mean(a.argmax(1) == b.argmax(1))),
            "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "max_abs_diff": float(np.abs(a64 - b64).max()),
            "max_abs_logit": float(max(np.abs(a64).max(), np.abs(b64).max()))}


def cmd_compare(a):
    la, lb = np.load(a.a), np.load(a.b)
    out = compare(la, lb)
    line = (f"{a.a} vs {a.b}: top-1 agreement {100 * out['top1_agreement']:.2f}% of "
            f"{out['images']}, cosine mean {out['cosine_mean']:.6f} min {out['cosine_min']:.6f}, "
            f"max |diff| {out['max_abs_diff']:.3g} (logits up to {out['max_abs_logit']:.3g})")
    if a.labels:
        labels = np.load(a.labels)
        out["top1_a"], out["top1_b"] = top1(la, labels), top1(lb, labels)
        line += f"; top-1 {out['top1_a']:.2f}% vs {out['top1_b']:.2f}%"
    write_json(a.json, out)
    print(line)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("model")
    c.add_argument("--qdq", action="store_true", help="also check the quantized (QDQ) form")
    c.add_argument("--json")
    r = sub.add_parser("run")
    r.add_argument("model")
    r.add_argument("--data", required=True)
    r.add_argument("--labels")
    r.add_argument("--batch", type=int, default=256)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--opt", choices=["all", "none"], default="all")
    r.add_argument("--save-logits")
    r.add_argument("--json")
    q = sub.add_parser("quantize")
    q.add_argument("model")
    q.add_argument("out")
    q.add_argument("--calib", required=True)
    q.add_argument("--images", type=int, default=500)
    q.add_argument("--batch", type=int, default=100)
    q.add_argument("--json")
    m = sub.add_parser("compare")
    m.add_argument("a")
    m.add_argument("b")
    m.add_argument("--labels")
    m.add_argument("--json")
    a = p.parse_args(argv)
    {"check": cmd_check, "run": cmd_run, "quantize": cmd_quantize, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    main(sys.argv[1:])
