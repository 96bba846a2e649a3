"""The importer's op mappings against ONNX Runtime, op by op semantics included.

Two models, each run by ONNX Runtime and by `scaledl infer --onnx` on the same seeded inputs:
  seed   fuzz/corpus/onnx/valid-fp32, written by scaledl's exporter: Conv, BatchNormalization,
         Relu, Add, MaxPool, LRN, Pad (channels), Concat, GlobalAveragePool, Flatten, Gemm,
         Clip (ReLU6), Softmax
  hand   built here with onnx.helper in the forms other exporters write: Constant, Pad before a
         Conv without bias, Mul and Add by per-channel constants, Clip with only a min,
         AveragePool counting padding, MaxPool with ceil_mode and SAME_UPPER, Dropout, Identity,
         Reshape to [0, -1], MatMul then Add of a bias, LRN of size 3, Softmax
The logits must agree to 1e-4 of their largest magnitude, and must vary across the batch.

usage: ops_vs_ort.py SCALEDL SOURCE_DIR WORK   (exit 0 pass, 1 fail)
"""
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def hand_model(rng):
    def const(name, a):
        return numpy_helper.from_array(np.asarray(a), name)

    c = 6
    inits = [
        const("w1", rng.normal(0, 0.4, (c, 3, 3, 3)).astype(np.float32)),
        const("scale", rng.uniform(0.5, 1.5, (1, c, 1, 1)).astype(np.float32)),
        const("shift", rng.normal(0, 0.1, (c, 1, 1)).astype(np.float32)),
        const("w2", rng.normal(0, 0.3, (c, c, 3, 3)).astype(np.float32)),
        const("b2", rng.normal(0, 0.1, (c,)).astype(np.float32)),
        const("clip_min", np.array(-0.5, np.float32)),
        const("mm", rng.normal(0, 0.5, (c * 2 * 2, 7)).astype(np.float32)),
        const("mm_bias", rng.normal(0, 0.1, (7,)).astype(np.float32)),
    ]
    nodes = [
        helper.make_node("Constant", [], ["pads"],
                         value=numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))),
        helper.make_node("Pad", ["x", "pads"], ["xp"], mode="constant"),
        helper.make_node("Conv", ["xp", "w1"], ["c1"], kernel_shape=[3, 3]),
        helper.make_node("Mul", ["c1", "scale"], ["m1"]),
        helper.make_node("Add", ["m1", "shift"], ["a1"]),
        helper.make_node("Clip", ["a1", "clip_min"], ["r1"]),
        helper.make_node("AveragePool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], count_include_pad=1),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[3, 3],
                         auto_pad="SAME_UPPER"),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("LRN", ["r2"], ["l2"], size=3, alpha=0.01, beta=0.6, bias=1.5),
        helper.make_node("MaxPool", ["l2"], ["p2"], kernel_shape=[3, 3], strides=[2, 2],
                         ceil_mode=1),
        helper.make_node("Dropout", ["p2"], ["d2"]),
        helper.make_node("Identity", ["d2"], ["i2"]),
        helper.make_node("Constant", [], ["shape"], value_ints=[0, -1]),
        helper.make_node("Reshape", ["i2", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "mm"], ["mmo"]),
        helper.make_node("Add", ["mmo", "mm_bias"], ["z"]),
        helper.make_node("Softmax", ["z"], ["y"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "hand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 7])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


def compare(name, scaledl, model_path, x, work):
    xp = f"{work}/{name}_x.npy"
    np.save(xp, x)
    np.save(f"{work}/{name}_x.labels.npy", np.zeros(len(x), np.int64))
    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    out = f"{work}/{name}_ours.npy"
    r = subprocess.run([scaledl, "infer", "--onnx", model_path, "--data", f"npy:{xp}",
                        "--batch", str(len(x)), "--save-logits", out, "--threads", "1",
                        "--run-dir", f"{work}/{name}_run"], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{name}: scaledl failed: {r.stderr.strip()}")
        return False
    ours = np.load(out)
    scale = float(np.abs(ref).max())
    err = float(np.abs(ours - ref).max()) / scale
    spread = float(ref.std(axis=0).max()) / scale
    ok = ours.shape == ref.shape and err <= 1e-4 and spread > 1e-3
    print(f"{name}: max|ours-ort|/max|ort| = {err:.2e}, spread over the batch {spread:.2e}: "
          f"{'PASS' if ok else 'FAIL'}")
    return ok


def main():
    scaledl, src, work = sys.argv[1:4]
    rng = np.random.default_rng(0)
    ok = compare("seed", scaledl, f"{src}/fuzz/corpus/onnx/valid-fp32",
                 rng.normal(0, 1, (6, 3, 8, 8)).astype(np.float32), work)
    onnx.save(hand_model(rng), f"{work}/hand.onnx")
    ok = compare("hand", scaledl, f"{work}/hand.onnx",
                 rng.normal(0, 1, (6, 3, 9, 9)).astype(np.float32), work) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
