"""Reads a scaledl run folder's TensorBoard events with TensorBoard itself and checks them
against the run's own records.

Usage: check_run_tensorboard.py RUN_DIR

EventAccumulator (every event kept) must give, besides the system monitor's series (whose
values must be among monitor.jsonl's samples): train/loss, train/lr, train/images_per_sec,
time/data_wait_s, time/comm_exposed_s with one value per steps.jsonl line, at its step, equal to
its loss, lr, images_per_sec, data_s, comm_exposed_s (as float32); eval/top1, eval/top5,
eval/loss likewise from evals.jsonl; and the hparams plugin's session_start_info must hold the
run's settings (summary.json "config", its strings, numbers and bools) with the same values.
Prints "OK: ..." and exits 0, or each mismatch and exits 1. Run with scripts/checkers_venv's
python (tensorboard pinned there).
"""

import json
import os
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata as hp_metadata

FAIL = []


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def main(run):
    steps = [json.loads(l) for l in open(os.path.join(run, "steps.jsonl"))]
    evals = [json.loads(l) for l in open(os.path.join(run, "evals.jsonl"))]
    config = json.load(open(os.path.join(run, "summary.json")))["config"]
    acc = event_accumulator.EventAccumulator(run, size_guidance={event_accumulator.SCALARS: 0,
                                                                 event_accumulator.TENSORS: 0})
    acc.Reload()
    want = {
        "train/loss": [(s["step"], s["loss"]) for s in steps],
        "train/lr": [(s["step"], s["lr"]) for s in steps],
        "train/images_per_sec": [(s["step"], s["images_per_sec"]) for s in steps],
        "time/data_wait_s": [(s["step"], s["data_s"]) for s in steps],
        "time/comm_exposed_s": [(s["step"], s["comm_exposed_s"]) for s in steps],
        "eval/top1": [(e["step"], e["top1"]) for e in evals],
        "eval/top5": [(e["step"], e["top5"]) for e in evals],
        "eval/loss": [(e["step"], e["loss"]) for e in evals],
    }
    tags = set(acc.Tags()["scalars"])
    # The system monitor's series (system/*, net/IFACE/*: monitor.jsonl's samples) come on top.
    monitor = {t for t in tags if t.startswith(("system/", "net/"))}
    if tags - monitor != set(want):
        FAIL.append("scalar tags %s, want %s" % (sorted(tags - monitor), sorted(want)))
    samples = [json.loads(l) for l in open(os.path.join(run, "monitor.jsonl"))] \
        if os.path.exists(os.path.join(run, "monitor.jsonl")) else []
    if samples:
        for tag in ("system/cpu_process_pct", "system/rss_mb"):
            got = acc.Scalars(tag) if tag in tags else []
            key = tag.split("/")[1]
            values = {f32(x[key]) for x in samples}
            if not got or any(e.value not in values for e in got):
                FAIL.append("%s: %d values, not all among monitor.jsonl's" % (tag, len(got)))
            steps_seen = [e.step for e in got]
            if steps_seen != sorted(steps_seen):
                FAIL.append("%s: steps out of order %s" % (tag, steps_seen))
    n = 0
    for tag, expected in want.items():
        if tag not in tags:
            continue
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        if len(got) != len(expected):
            FAIL.append("%s: %d values, want %d" % (tag, len(got), len(expected)))
            continue
        for (gs, gv), (ws, wv) in zip(got, expected):
            if gs != ws or gv != f32(wv):
                FAIL.append("%s: (step %d, %r), want (step %d, %r)" % (tag, gs, gv, ws, f32(wv)))
                break
        n += len(got)
    # The hparams plugin: the session's hyperparameters are the run's settings.
    starts = [t for t in acc.Tags()["tensors"] if t == hp_metadata.SESSION_START_INFO_TAG]
    if not starts:
        FAIL.append("no %s" % hp_metadata.SESSION_START_INFO_TAG)
    else:
        content = acc.SummaryMetadata(starts[0]).plugin_data.content
        info = hp_metadata.parse_session_start_info_plugin_data(content)
        for k, v in config.items():
            if v is None or isinstance(v, (list, dict)):
                continue
            if k not in info.hparams:
                FAIL.append("hparams: %s missing" % k)
                continue
            h = info.hparams[k]
            kind = h.WhichOneof("kind")
            got = getattr(h, kind)
            ok = got == v if not isinstance(v, float) else abs(got - v) <= 1e-6 * max(1, abs(v))
            if isinstance(v, bool):
                ok = kind == "bool_value" and got == v
            if not ok:
                FAIL.append("hparams: %s = %r, want %r" % (k, got, v))
    if FAIL:
        print("\n".join(FAIL))
        return 1
    print("OK: %d scalars in %d tags at their steps and values; %d hparams" % (n, len(want), len(config)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
