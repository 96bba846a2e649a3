"""The Python side of bench/loadgen_vs_reference.sh: MLPerf's reference-style harness (the
mlcommons-loadgen Python bindings driving ONNX Runtime) for a ResNet-50, and the report that
puts it beside `scaledl loadgen`. Run it inside the venv bench/infer_venv.sh makes, with
mlcommons-loadgen added (the shell script installs it).

  photos --jpeg DIR --out DIR --calib-images 100 --images 1024
      the JPEGs bench/make_jpeg_set.py wrote (DIR/train.csv order) -> float32 NCHW npy:
      calib.npy (the first 100) and photos.npy (the next 1024: the QSL), each with its
      .labels.npy (the photograph each crop came from, 0..9: scaledl wants labels beside npy
      data; they mean nothing to a random 1000-class net). Each image: RGB, shorter side to 256
      (Pillow bilinear), centre crop 224, pixel/255, ImageNet mean/std.
  prepare --out MODEL --photos DIR --seed 0
      bench/infer_peers.py's ResNet-50 (fixed-seed torchvision init, random BN affine, BN
      statistics measured on 16 calibration photos) as resnet50.safetensors (scaledl's
      checkpoint), resnet50.onnx and resnet50_int8_qdq.onnx (ONNX Runtime quantize_static,
      QDQ, entropy-calibrated on the 100 calibration photos); prepared.json marks it done.
  run --model M.onnx --data photos.npy --scenario Offline|Server --mode performance|accuracy
      --user-conf FILE --output DIR --threads T [--batch 32] [--target-qps Q]
      one LoadGen test; LoadGen's logs and DIR/summary.json (the keys `scaledl loadgen` writes).
  peak --model M.onnx --data photos.npy --user-conf FILE --output DIR --threads T
      Server runs at chosen target QPS (DIR/qps-<Q>/), bisecting between the highest VALID and
      the lowest INVALID until they are within --tolerance (5%); DIR/summary.json has peak_qps.
  report --work WORK --out summary.json ...
      medians, peaks, ratios and targets, argmax agreement of the accuracy runs.

The harness (written for this benchmark on LoadGen's documented Python API): the QSL holds the
preprocessed photos (LoadSamplesToRam copies the asked-for images out of the npy file into
memory, UnloadSamplesFromRam drops them); the SUT's IssueQuery only cuts the query into batches
of --batch samples (the MLPerf reference's ONNX Runtime backend: Offline's one big query becomes
batches of 32; Server queries hold one sample each and go as they come) and queues them; one
worker thread runs each batch through one ONNX Runtime session (intra_op_num_threads = T,
inter_op 1, sequential, all graph optimizations) and calls QuerySamplesComplete with the argmax
class of every sample as its response data, a float32 as the reference writes it for ResNet-50.
"""
import argparse
import csv
import json
import math
import os
import queue
import re
import sys
import threading
import time

import numpy as np

MEAN = np.array((0.485, 0.456, 0.406), np.float32).reshape(3, 1, 1)
STD = np.array((0.229, 0.224, 0.225), np.float32).reshape(3, 1, 1)
RESIZE, CROP = 256, 224
PREPARE_FORMAT = 1  # bump when prepare's files change: the shell script then remakes them
MODEL_NAME = "resnet50"  # LoadGen's model key: mlperf.conf's resnet50 lines, then user.conf
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print("[ref] " + msg, file=sys.stderr, flush=True)


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


def read_json(path):
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


# ------------------------------------------------------------------------------------ photos


def load_photo(path):
    """One JPEG -> float32 [3, 224, 224], ImageNet-normalized."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        scale = RESIZE / min(w, h)
        im = im.resize((max(RESIZE, round(w * scale)), max(RESIZE, round(h * scale))),
                       Image.BILINEAR)
        w, h = im.size
        left, top = (w - CROP) // 2, (h - CROP) // 2
        im = im.crop((left, top, left + CROP, top + CROP))
        x = np.asarray(im, np.float32).transpose(2, 0, 1) / 255.0
    return (x - MEAN) / STD


def cmd_photos(a):
    with open(os.path.join(a.jpeg, "train.csv")) as f:
        rows = [(r["path"], int(r["label"])) for r in csv.DictReader(f)]
    need = a.calib_images + a.images
    if len(rows) < need:
        sys.exit(f"[ref] {a.jpeg} has {len(rows)} images, {need} needed")
    os.makedirs(a.out, exist_ok=True)
    marker = os.path.join(a.out, "photos.json")
    if os.path.exists(marker):
        os.remove(marker)
    t0 = time.time()
    for name, part in (("calib", rows[:a.calib_images]), ("photos", rows[a.calib_images:need])):
        tmp = os.path.join(a.out, name + ".tmp.npy")
        x = np.lib.format.open_memmap(tmp, "w+", np.float32, (len(part), 3, CROP, CROP))
        for i, (rel, _) in enumerate(part):
            x[i] = load_photo(os.path.join(a.jpeg, rel))
        x.flush()
        del x
        os.replace(tmp, os.path.join(a.out, name + ".npy"))
        np.save(os.path.join(a.out, name + ".labels.npy"), np.array([c for _, c in part], np.int64))
        log(f"{name}.npy: {len(part)} photos [N,3,{CROP},{CROP}]")
    write_json(marker, {"jpeg": os.path.abspath(a.jpeg), "calib_images": a.calib_images,
                        "images": a.images,
                        "preprocess": f"RGB, shorter side {RESIZE} (Pillow bilinear), centre crop "
                                      f"{CROP}, pixel/255, ImageNet mean/std",
                        "seconds": round(time.time() - t0, 1)})


# ----------------------------------------------------------------------------------- prepare


def cmd_prepare(a):
    import torch

    import infer_peers as peers  # one model recipe for every inference benchmark

    os.makedirs(a.out, exist_ok=True)
    marker = os.path.join(a.out, "prepared.json")
    if os.path.exists(marker):
        os.remove(marker)
    t0 = time.time()
    calib = np.load(os.path.join(a.photos, "calib.npy"))
    size = calib.shape[-1]
    model = peers.build_model(a.seed, calib)
    meta = peers.checkpoint_metadata(a.seed, size, len(calib))
    cfg = json.loads(meta["config"])
    cfg.update(made_by="bench/loadgen_reference.py prepare", calibration_images="photographs")
    meta["config"] = json.dumps(cfg)
    peers.write_checkpoint(model, os.path.join(a.out, "resnet50.safetensors"), meta)
    with torch.inference_mode():
        ref = model(torch.from_numpy(calib[:peers.REF_IMAGES])).numpy()
    fp32 = os.path.join(a.out, "resnet50.onnx")
    int8 = os.path.join(a.out, "resnet50_int8_qdq.onnx")
    peers.export_onnx(model, fp32, size)
    log(f"ONNX Runtime static quantization (entropy, {len(calib)} photos): about a minute")
    peers.quantize_int8(fp32, int8, calib, a.out)
    info = {"prepare_format": PREPARE_FORMAT, "seed": a.seed, "image_size": size,
            "calib_images": len(calib), "photos": read_json(os.path.join(a.photos, "photos.json")),
            "calibration": "onnxruntime quantize_static, CalibrationMethod.Entropy, QDQ, "
                           "per-channel QInt8 weights, QUInt8 activations",
            "versions": peers.versions(), "seconds": round(time.time() - t0, 1),
            "ort_fp32_vs_torch": peers.check_onnx(fp32, calib, ref),
            "ort_int8_vs_torch": peers.check_onnx(int8, calib, ref)}
    write_json(marker, info)
    log(f"prepared {a.out} in {info['seconds']} s")


# ------------------------------------------------------------------------- LoadGen's logs


def read_detail(path):
    """LoadGen's mlperf_log_detail.txt -> {key: value} (the last value of each key) and the list
    of errors it logged."""
    kv, errors = {}, []
    if not os.path.exists(path):
        return kv, ["no " + path]
    with open(path, errors="replace") as f:
        for line in f:
            i = line.find("{")
            if not line.startswith(":::MLLOG") or i < 0:
                continue
            try:
                rec = json.loads(line[i:])
            except json.JSONDecodeError:
                continue
            kv[rec.get("key")] = rec.get("value")
            if rec.get("metadata", {}).get("is_error"):
                errors.append(f"{rec.get('key')}: {rec.get('value')}")
    return kv, errors


def summarize_detail(kv):
    """The figures of one LoadGen test from its detail log, in summary.json's shape."""
    out = {"result": kv.get("result_validity")}
    lat = {}
    for k, v in kv.items():
        m = re.fullmatch(r"result_([0-9.]+)_percentile_latency_ns", k or "")
        if m:
            lat["p" + m.group(1).rstrip("0").rstrip(".")] = v
    for k, name in (("result_min_latency_ns", "min"), ("result_max_latency_ns", "max"),
                    ("result_mean_latency_ns", "mean")):
        if k in kv:
            lat[name] = kv[k]
    out["latency_ns"] = lat
    for k, name in (("result_samples_per_second", "samples_per_second"),
                    ("result_scheduled_samples_per_sec", "scheduled_qps"),
                    ("result_completed_samples_per_sec", "completed_qps"),
                    ("effective_target_qps", "target_qps"),
                    ("effective_target_latency_ns", "target_latency_ns"),
                    ("result_query_count", "query_count"),
                    ("result_overlatency_query_count", "overlatency_query_count"),
                    ("result_perf_constraints_met", "perf_constraints_met"),
                    ("result_min_duration_met", "min_duration_met"),
                    ("result_min_queries_met", "min_queries_met"),
                    ("early_stopping_met", "early_stopping_met"),
                    ("result_invalid_reason", "invalid_reason"),
                    ("effective_min_duration_ms", "min_duration_ms"),
                    ("effective_min_query_count", "min_query_count"),
                    ("effective_samples_per_query", "samples_per_query"),
                    ("loadgen_version", "loadgen_version")):
        if k in kv:
            out[name] = kv[k]
    return out


def read_accuracy(path):
    """mlperf_log_accuracy.json -> {qsl_idx: class}; each response is one value, decoded by its
    size: 4 bytes a float32 (the reference's way), 8 an int64."""
    with open(path) as f:
        entries = json.load(f)
    out = {}
    for e in entries:
        raw = bytes.fromhex(e["data"])
        if len(raw) == 4:
            v = float(np.frombuffer(raw, np.float32)[0])
        elif len(raw) == 8:
            v = float(np.frombuffer(raw, np.int64)[0])
        else:
            raise ValueError(f"{path}: a response of {len(raw)} bytes (one class expected)")
        out[int(e["qsl_idx"])] = int(round(v))
    return out


# --------------------------------------------------------------------------------- harness


class Qsl:
    """The query sample library: the preprocessed photos, loaded into memory on LoadGen's
    word (the npy file stays memory-mapped until then)."""

    def __init__(self, path):
        self.data = np.load(path, mmap_mode="r")
        self.loaded = {}

    def load(self, indices):
        for i in indices:
            self.loaded[i] = np.array(self.data[i])

    def unload(self, indices):
        for i in indices:
            self.loaded.pop(i, None)


class Sut:
    """The system under test: IssueQuery queues batches, one worker runs them on ONNX Runtime
    and answers LoadGen with each sample's argmax class (float32)."""

    def __init__(self, model, threads, batch, qsl):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        self.input = self.sess.get_inputs()[0].name
        self.batch = batch
        self.qsl = qsl
        self.todo = queue.Queue()
        self.error = None
        self.worker = threading.Thread(target=self._work, daemon=True)
        self.worker.start()

    def predict(self, x):
        return self.sess.run(None, {self.input: x})[0].argmax(1)

    def warm_up(self, images):
        for _ in range(2):
            self.predict(np.ascontiguousarray(images))

    def issue(self, samples):
        for i in range(0, len(samples), self.batch):
            part = samples[i:i + self.batch]
            self.todo.put(([s.id for s in part], [s.index for s in part]))

    def flush(self):
        pass

    def _work(self):
        import mlperf_loadgen as lg

        while True:
            item = self.todo.get()
            if item is None:
                return
            ids, idx = item
            try:
                classes = self.predict(np.stack([self.qsl.loaded[i] for i in idx]))
                answers = np.ascontiguousarray(classes, np.float32)
            except Exception as e:  # answer anyway, or LoadGen waits forever
                self.error = self.error or repr(e)
                answers = np.full(len(ids), -1, np.float32)
            base, size = answers.ctypes.data, answers.itemsize
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q, base + k * size, size)
                                     for k, q in enumerate(ids)])

    def close(self):
        self.todo.put(None)
        self.worker.join()


class Harness:
    """One process: one ONNX Runtime session, one SUT, one QSL, one TestSettings read from
    user.conf (LoadGen loads mlperf.conf once a process, before the first user.conf), any
    number of tests."""

    def __init__(self, a, scenario, mode):
        import mlperf_loadgen as lg

        self.lg = lg
        self.qsl_data = Qsl(a.data)
        n = len(self.qsl_data.data)
        self.sut_impl = Sut(a.model, a.threads, a.batch, self.qsl_data)
        self.sut_impl.warm_up(self.qsl_data.data[:min(a.batch, n)])
        self.settings = lg.TestSettings()
        rc = self.settings.FromConfig(a.user_conf, MODEL_NAME, scenario)
        if rc != 0:
            sys.exit(f"[ref] LoadGen could not read {a.user_conf} (FromConfig {rc})")
        self.settings.scenario = getattr(lg.TestScenario, scenario)
        self.settings.mode = (lg.TestMode.AccuracyOnly if mode == "accuracy"
                              else lg.TestMode.PerformanceOnly)
        self.sut = lg.ConstructSUT(self.sut_impl.issue, self.sut_impl.flush)
        self.qsl = lg.ConstructQSL(n, min(a.performance_count, n), self.qsl_data.load,
                                   self.qsl_data.unload)
        self.scenario, self.mode, self.threads = scenario, mode, a.threads
        self.labels = a.data[:-len(".npy")] + ".labels.npy"

    def test(self, outdir, target_qps=None):
        lg = self.lg
        os.makedirs(outdir, exist_ok=True)
        if target_qps:
            self.settings.server_target_qps = float(target_qps)
        logs = lg.LogSettings()
        logs.log_output.outdir = outdir
        logs.log_output.copy_summary_to_stdout = False
        logs.enable_trace = False
        t0 = time.time()
        # No audit.config is there: LoadGen's compliance overrides stay off.
        lg.StartTestWithLogSettings(self.sut, self.qsl, self.settings, logs,
                                    os.path.join(outdir, "audit.config"))
        wall = time.time() - t0
        kv, errors = read_detail(os.path.join(outdir, "mlperf_log_detail.txt"))
        s = {"harness": "reference (mlcommons-loadgen Python + onnxruntime)",
             "scenario": self.scenario, "mode": self.mode, "threads": self.threads,
             "batch": self.sut_impl.batch}
        s.update(summarize_detail(kv))
        s["wall_s"] = round(wall, 2)
        if errors:
            s["loadgen_errors"] = errors
        if self.sut_impl.error:
            s["sut_error"] = self.sut_impl.error
        if self.mode == "accuracy":
            got = read_accuracy(os.path.join(outdir, "mlperf_log_accuracy.json"))
            labels = np.load(self.labels)
            s["samples_scored"] = len(got)
            s["top1"] = round(float(np.mean([labels[i] == c for i, c in got.items()])), 5)
        write_json(os.path.join(outdir, "summary.json"), s)
        return s

    def close(self):
        self.sut_impl.close()
        self.lg.DestroyQSL(self.qsl)
        self.lg.DestroySUT(self.sut)


def brief(s):
    lat = s.get("latency_ns", {})
    p99 = lat.get("p99")
    extra = (f", scheduled {s['scheduled_qps']:.2f} qps, completed {s['completed_qps']:.2f}"
             if "scheduled_qps" in s else "")
    sps = f", {s['samples_per_second']:.2f} samples/s" if "samples_per_second" in s else ""
    top = f", top-1 {s['top1']}" if "top1" in s else ""
    return (f"{s.get('result')}{sps}{extra}, p99 "
            f"{'n/a' if p99 is None else f'{p99 / 1e6:.1f} ms'}{top}")


def cmd_run(a):
    h = Harness(a, a.scenario, a.mode)
    s = h.test(a.output, a.target_qps)
    h.close()
    log(f"{a.scenario} {a.mode} {os.path.basename(a.model)}: {brief(s)}")
    print(json.dumps(s))
    if s.get("sut_error") or (a.mode == "performance" and s.get("result") is None):
        sys.exit(1)


def batch1_latency(h, n=12):
    """Median and minimum seconds of one image through the session (its serial capacity)."""
    x = h.qsl_data.data
    times = []
    for i in range(n):
        img = np.ascontiguousarray(x[i % len(x)][None])
        t0 = time.perf_counter()
        h.sut_impl.predict(img)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(min(times))


def cmd_peak(a):
    """Server runs at target QPS of our choosing: up (x1.5) from a start near the serial
    capacity while VALID, down (/1.5) while INVALID, then bisection of [highest VALID, lowest
    INVALID] until hi <= lo * (1 + tolerance)."""
    h = Harness(a, "Server", "performance")
    bound_ns = h.settings.server_target_latency_ns
    med, best = batch1_latency(h)
    cap = 1.0 / med
    log(f"Server peak search: batch-1 latency {1e3 * med:.1f} ms (min {1e3 * best:.1f}), "
        f"bound {bound_ns / 1e6:g} ms at p99")
    runs, lo, hi = [], None, None
    info = {"scenario": "Server", "mode": "performance", "find_peak": "bisection over VALID",
            "threads": a.threads, "batch": a.batch, "target_latency_ns": bound_ns,
            "batch1_latency_ms": {"median": round(1e3 * med, 2), "min": round(1e3 * best, 2)},
            "tolerance": a.tolerance, "runs": runs}

    def run(q):
        q = round(q, 3)
        s = h.test(os.path.join(a.output, f"qps-{q:g}"), q)
        s["requested_qps"] = q
        runs.append({k: s.get(k) for k in ("requested_qps", "result", "scheduled_qps",
                                           "completed_qps", "query_count",
                                           "overlatency_query_count", "early_stopping_met",
                                           "perf_constraints_met", "wall_s")}
                    | {"p99_ms": round(s["latency_ns"].get("p99", 0) / 1e6, 2)})
        log(f"  Server at {q:g} qps: {brief(s)} ({s['wall_s']:.0f} s)")
        if s.get("sut_error"):
            sys.exit("[ref] the SUT failed: " + s["sut_error"])
        return s.get("result") == "VALID"

    floor = cap * a.floor_fraction
    if best * 1e9 > bound_ns:
        # Every query takes longer than the bound by itself: no rate can be VALID. One run at
        # half the capacity lets LoadGen say so.
        info["infeasible"] = (f"one image takes {1e3 * best:.1f} ms at best, over the "
                              f"{bound_ns / 1e6:g} ms bound")
        log("  infeasible: " + info["infeasible"] + "; one confirming run")
        if a.confirm_infeasible:
            if run(cap * 0.5):
                lo = round(cap * 0.5, 3)
            else:
                hi = round(cap * 0.5, 3)
    else:
        q = cap * a.start_fraction
        while len(runs) < a.max_runs:
            if run(q):
                lo = round(q, 3)
                if hi is not None:
                    break
                q *= 1.5
            else:
                hi = round(q, 3)
                if lo is not None:
                    break
                q /= 1.5
                if q < floor:
                    info["no_valid_above"] = round(floor, 3)
                    break
        while lo is not None and hi is not None and hi > lo * (1 + a.tolerance) \
                and len(runs) < a.max_runs:
            q = (lo + hi) / 2
            if run(q):
                lo = round(q, 3)
            else:
                hi = round(q, 3)
    info["peak_qps"] = lo or 0.0
    info["lowest_invalid_qps"] = hi
    info["converged"] = bool(lo and hi and hi <= lo * (1 + a.tolerance))
    if len(runs) >= a.max_runs and not info["converged"]:
        info["stopped"] = f"after {a.max_runs} runs"
    valid = [r for r in runs if r["result"] == "VALID" and r["requested_qps"] == lo]
    if valid:
        info["peak_run"] = valid[-1]
    info["result"] = "VALID" if lo else "INVALID"
    h.close()
    write_json(os.path.join(a.output, "summary.json"), info)
    log(f"Server peak {info['peak_qps']:g} qps (lowest INVALID {hi}), {len(runs)} runs")
    print(json.dumps(info))


# ----------------------------------------------------------------------------------- collect


def norm_latency(lat):
    """{"50.00": ns} or {"p50": ns} -> {"p50": ns}."""
    out = {}
    for k, v in (lat or {}).items():
        k = k[1:] if k.startswith("p") else k
        try:
            out["p" + f"{float(k):g}"] = v
        except ValueError:
            out[k] = v
    return out


def cmd_collect(a):
    """One row of results.jsonl from a run folder of either harness: its summary.json, checked
    against (and filled from) LoadGen's own detail log beside it."""
    s = read_json(os.path.join(a.dir, "summary.json")) or {}
    kv, errors = read_detail(os.path.join(a.dir, "mlperf_log_detail.txt"))
    d = summarize_detail(kv)
    row = {"name": a.name, "kind": a.kind, "round": a.round, "dir": a.dir,
           "result": s.get("result", d.get("result")),
           "load_average_1m": os.getloadavg()[0]}  # the machine's load as the run ended
    odd = []
    if a.kind == "offline":
        sps = s.get("samples_per_second")
        if sps is None:
            sps = d.get("samples_per_second")
            odd.append("summary.json has no samples_per_second: LoadGen's detail log used")
        elif d.get("samples_per_second") and abs(sps / d["samples_per_second"] - 1) > 0.01:
            odd.append(f"summary.json says {sps} samples/s, LoadGen's detail log "
                       f"{d['samples_per_second']}")
        row["samples_per_second"] = sps
        row["samples"] = d.get("samples_per_query")
        row["min_duration_met"] = d.get("min_duration_met")
    elif a.kind == "server":
        row["peak_qps"] = s.get("peak_qps")
        if row["peak_qps"] is None:
            odd.append("summary.json has no peak_qps")
        for k in ("scheduled_qps", "completed_qps", "lowest_invalid_qps", "converged",
                  "infeasible", "batch1_latency_ms", "runs", "peak_run", "probes"):
            if k in s:
                row[k] = s[k]
        row["last_loadgen_run"] = {k: d.get(k) for k in ("result", "target_qps", "scheduled_qps",
                                                         "completed_qps", "query_count",
                                                         "overlatency_query_count",
                                                         "early_stopping_met")}
        row["last_loadgen_run"]["p99_ms"] = (d["latency_ns"]["p99"] / 1e6
                                             if "p99" in d["latency_ns"] else None)
    else:  # accuracy
        row["top1"] = s.get("top1")
    lat = d.get("latency_ns") or norm_latency(s.get("latency_ns"))
    row["p50_ms"] = lat["p50"] / 1e6 if "p50" in lat else None
    row["p99_ms"] = lat["p99"] / 1e6 if "p99" in lat else None
    if errors:
        row["loadgen_errors"] = errors[:5]
    if odd:
        row["odd"] = odd
    with open(a.results, "a") as f:
        f.write(json.dumps(row) + "\n")
    figure = {"offline": lambda: f"{row['samples_per_second']} samples/s",
              "server": lambda: f"peak {row['peak_qps']} qps",
              "accuracy": lambda: f"top-1 {row['top1']}"}[a.kind]()
    log(f"  {a.name} {a.kind}: {row['result']}, {figure}" + (f" (odd: {odd})" if odd else ""))


# ------------------------------------------------------------------------------------ report


def fmt(v, unit=""):
    return "n/a" if v is None else f"{v:.2f}{unit}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else round(a / b, 4)


def cmd_report(a):
    w = a.work
    rows = []
    if os.path.exists(os.path.join(w, "results.jsonl")):
        with open(os.path.join(w, "results.jsonl")) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    names = [f"{h}-{p}" for p in ("fp32", "int8") for h in ("ref", "ours")]
    offline = {}
    for n in names:
        v = [r["samples_per_second"] for r in rows
             if r["name"] == n and r["kind"] == "offline" and r.get("samples_per_second")]
        offline[n] = {"median": float(np.median(v)) if v else None, "rounds": v,
                      "results": [r.get("result") for r in rows
                                  if r["name"] == n and r["kind"] == "offline"]}
    server = {n: next((r for r in rows if r["name"] == n and r["kind"] == "server"), None)
              for n in names}
    peak = {n: (server[n] or {}).get("peak_qps") for n in names}

    print(f"\nOffline samples/s (LoadGen, medians of {a.rounds} rounds; batch {a.batch}):")
    for n in names:
        o = offline[n]
        print(f"  {n:10s} {fmt(o['median'])}   rounds {[round(x, 2) for x in o['rounds']]} "
              f"{o['results']}")
    print(f"Server peak QPS at p99 <= {a.latency_ms:g} ms:")
    for n in names:
        s = server[n] or {}
        note = s.get("infeasible") or s.get("note") or ""
        print(f"  {n:10s} {fmt(peak[n])}   {note}")
    targets = []

    def line(label, num, den, target=None):
        r = ratio(num, den)
        if target is None:  # for the record
            targets.append({"name": label, "ratio": r})
            print(f"  {label}: {fmt(r, 'x')}")
            return
        ok = None if r is None else r >= target
        targets.append({"name": label, "ratio": r, "target": target, "met": ok})
        verdict = "n/a" if r is None else ("met" if ok else "NOT met")
        print(f"  {label}: {fmt(r, 'x')} (target >= {target}x: {verdict})")

    print("Ratios:")
    for p in ("fp32", "int8"):
        line(f"offline_{p}_ours_vs_ref", offline[f"ours-{p}"]["median"],
             offline[f"ref-{p}"]["median"], 1.5)
        line(f"server_{p}_ours_vs_ref", peak[f"ours-{p}"], peak[f"ref-{p}"], 1.5)
    for p in ("fp32", "int8"):
        line(f"ours_{p}_server_vs_offline", peak[f"ours-{p}"], offline[f"ours-{p}"]["median"],
             0.8)
    for p in ("fp32", "int8"):
        line(f"ref_{p}_server_vs_offline", peak[f"ref-{p}"], offline[f"ref-{p}"]["median"])
    for h in ("ours", "ref"):
        line(f"{h}_int8_vs_fp32_offline", offline[f"{h}-int8"]["median"],
             offline[f"{h}-fp32"]["median"])

    agreement = {}
    acc = os.path.join(w, "accuracy")
    lab_path = os.path.join(w, "photos", "photos.labels.npy")

    def classes(n):
        p = os.path.join(acc, n, "mlperf_log_accuracy.json")
        try:
            return read_accuracy(p) if os.path.exists(p) else None
        except (ValueError, KeyError, json.JSONDecodeError) as e:
            agreement[n + "_decode_error"] = str(e)
            return None

    got = {n: classes(n) for n in names}
    if any(got.values()):
        print("Accuracy runs (Offline, every QSL photo): argmax agreement")
        for x, y, what in (("ours-fp32", "ref-fp32", "ours fp32 against ONNX Runtime fp32 "
                            "(same weights: should be ~100%)"),
                           ("ours-int8", "ref-int8", "ours int8 (own calibration) against "
                            "ORT's QDQ int8 (near-tied random logits: low is normal)"),
                           ("ref-int8", "ref-fp32", "noise floor: ORT int8 against ORT fp32")):
            if got[x] and got[y]:
                common = sorted(set(got[x]) & set(got[y]))
                agree = float(np.mean([got[x][i] == got[y][i] for i in common])) if common else None
                agreement[f"{x}_vs_{y}"] = {"samples": len(common), "agreement": agree,
                                            "what": what}
                print(f"  {x} vs {y}: {fmt(None if agree is None else 100 * agree, '%')} "
                      f"of {len(common)}   [{what}]")
        if os.path.exists(lab_path):
            labels = np.load(lab_path)
            for n in names:
                if got[n]:
                    agreement[f"{n}_top1_vs_photo_labels"] = round(float(np.mean(
                        [labels[i] == c for i, c in got[n].items()])), 5)

    summary = {"model": "resnet50 (fixed-seed random weights, bench/infer_peers.py recipe)",
               "threads": a.threads, "batch": a.batch, "rounds": a.rounds,
               "latency_bound_ms": a.latency_ms, "user_conf": open(a.user_conf).read(),
               "cpu": cpu_name(), "scaledl": a.scaledl_version,
               "offline_samples_per_second": offline, "server_peak_qps": peak,
               "server": server, "targets": targets, "accuracy_agreement": agreement,
               "load_average": a.load_average,
               "prepared": read_json(os.path.join(w, "model", "prepared.json")),
               "failed": [x.strip() for x in open(a.failed)] if a.failed and
               os.path.exists(a.failed) else []}
    write_json(a.out, summary)


def cpu_name():
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return f"{names[0]} ({len(names)} logical cores)" if names else "unknown"


# ------------------------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ph = sub.add_parser("photos")
    ph.add_argument("--jpeg", required=True)
    ph.add_argument("--out", required=True)
    ph.add_argument("--calib-images", type=int, default=100)
    ph.add_argument("--images", type=int, default=1024)
    pr = sub.add_parser("prepare")
    pr.add_argument("--out", required=True)
    pr.add_argument("--photos", required=True)
    pr.add_argument("--seed", type=int, default=0)
    for name in ("run", "peak"):
        p = sub.add_parser(name)
        p.add_argument("--model", required=True)
        p.add_argument("--data", required=True, help="float32 [N,3,224,224] npy (the QSL)")
        p.add_argument("--user-conf", required=True)
        p.add_argument("--output", required=True)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--batch", type=int, default=32, help="samples per session run, at most")
        p.add_argument("--performance-count", type=int, default=1024)
        if name == "run":
            p.add_argument("--scenario", required=True, choices=("Offline", "Server"))
            p.add_argument("--mode", default="performance", choices=("performance", "accuracy"))
            p.add_argument("--target-qps", type=float)
        else:
            p.add_argument("--tolerance", type=float, default=0.05)
            p.add_argument("--max-runs", type=int, default=12)
            p.add_argument("--start-fraction", type=float, default=0.7,
                           help="first target QPS as a fraction of 1 / batch-1 latency")
            p.add_argument("--floor-fraction", type=float, default=1 / 16,
                           help="give up below this fraction of 1 / batch-1 latency")
            p.add_argument("--confirm-infeasible", type=int, default=1,
                           help="when one image already takes longer than the bound, still "
                                "make one LoadGen run (1) or not (0)")
    co = sub.add_parser("collect")
    co.add_argument("--dir", required=True)
    co.add_argument("--name", required=True)
    co.add_argument("--kind", required=True, choices=("offline", "server", "accuracy"))
    co.add_argument("--round", type=int, default=1)
    co.add_argument("--results", required=True)
    re_ = sub.add_parser("report")
    re_.add_argument("--work", required=True)
    re_.add_argument("--out", required=True)
    re_.add_argument("--user-conf", required=True)
    re_.add_argument("--threads", type=int, default=2)
    re_.add_argument("--batch", type=int, default=32)
    re_.add_argument("--rounds", type=int, default=3)
    re_.add_argument("--latency-ms", type=float, default=15)
    re_.add_argument("--failed")
    re_.add_argument("--scaledl-version", default="")
    re_.add_argument("--load-average", nargs="*", default=[])
    return ap.parse_args(argv)


def main(argv):
    a = parse_args(argv)
    {"photos": cmd_photos, "prepare": cmd_prepare, "run": cmd_run, "peak": cmd_peak,
     "collect": cmd_collect, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main(sys.argv[1:])
