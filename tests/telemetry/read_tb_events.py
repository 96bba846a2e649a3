"""Reads a run folder of scaledl's TensorBoard events with TensorBoard itself and checks it.

Usage: read_tb_events.py RUN_DIR EXPECTED_JSON [--corrupt]

EXPECTED_JSON (written by tests/telemetry/tb_events_test.cc):
  {"scalars": {tag: [[step, value, wall_time], ...]}, "hparams": {name: value},
   "metric_tags": [tag, ...], "session_end_status": int (tensorboard.hparams.Status)}

Checks, with tensorboard.backend.event_processing.event_accumulator.EventAccumulator: the scalar
tags, for each the exact count, steps, wall times and values (the expected doubles rounded to
float32 here); the hparams plugin's experiment, session_start_info and session_end_info through
tensorboard.plugins.hparams.metadata's parsers; and what the HParams dashboard would show (its
/experiment and /session_groups handlers on a data provider over RUN_DIR's parent, which should
hold no other run).
With --corrupt (one byte of a scalar record flipped): fewer scalars than expected, and each one
read is the expected value at its step: a corrupt record is never read as data.
Prints "OK: ..." and exits 0, or prints each mismatch and exits 1.
Run with the venv of scripts/checkers_venv (tensorboard pinned there).
"""

import json
import logging
import os
import struct
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hp_metadata

FAILURES = []


def check(cond, what, *args):
    """Records the failure `what % args` unless cond; returns cond."""
    if not cond:
        FAILURES.append(what % args)
    return cond


def f32(x):
    """The float32 nearest to the double x, as a Python float."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def load(run_dir):
    acc = event_accumulator.EventAccumulator(
        run_dir,
        size_guidance={
            event_accumulator.SCALARS: 0,  # 0: keep every event
            event_accumulator.TENSORS: 0,
        },
    )
    acc.Reload()
    return acc


def check_scalars(acc, expected):
    tags = sorted(acc.Tags()["scalars"])
    check(tags == sorted(expected), "scalar tags %s, want %s", tags, sorted(expected))
    total = 0
    for tag, points in expected.items():
        if tag not in tags:
            continue
        events = acc.Scalars(tag)
        total += len(events)
        check(len(events) == len(points), "%s: %d points, want %d", tag, len(events), len(points))
        for ev, (step, value, wall) in zip(events, points):
            check(ev.step == step, "%s: step %d, want %d", tag, ev.step, step)
            check(ev.wall_time == wall, "%s@%d: time %r, want %r", tag, step, ev.wall_time, wall)
            check(ev.value == f32(value), "%s@%d: %r, want %r", tag, step, ev.value, f32(value))
    return total


def check_corrupt(acc, expected):
    want = {(tag, step): f32(value) for tag, pts in expected.items() for step, value, _ in pts}
    total = 0
    for tag in acc.Tags()["scalars"]:
        for ev in acc.Scalars(tag):
            total += 1
            written = want.get((tag, ev.step))
            check(written is not None, "%s@%d: read a point never written", tag, ev.step)
            check(written == ev.value, "%s@%d: read %r, wrote %r", tag, ev.step, ev.value, written)
    check(total < len(want), "read %d scalars of %d: the corrupt one was read", total, len(want))
    return total, len(want)


def data_type_of(value):
    if isinstance(value, bool):
        return api_pb2.DATA_TYPE_BOOL
    if isinstance(value, (int, float)):
        return api_pb2.DATA_TYPE_FLOAT64
    return api_pb2.DATA_TYPE_STRING


def check_value(where, got, value):
    """got: a google.protobuf.Value; value: the JSON value written (non-scalars as JSON text)."""
    kind = got.WhichOneof("kind")
    if isinstance(value, bool):
        ok = kind == "bool_value" and got.bool_value == value
    elif isinstance(value, (int, float)):
        ok = kind == "number_value" and got.number_value == float(value)
    else:
        value = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        ok = kind == "string_value" and got.string_value == value
    check(ok, "%s: %s, want %r", where, got, value)


def check_hparams(acc, expected):
    content = acc.PluginTagToContent(hp_metadata.PLUGIN_NAME)
    tags = {
        hp_metadata.EXPERIMENT_TAG,
        hp_metadata.SESSION_START_INFO_TAG,
        hp_metadata.SESSION_END_INFO_TAG,
    }
    if not check(set(content) == tags, "hparams tags %s, want %s", sorted(content), sorted(tags)):
        return
    hparams = expected["hparams"]
    experiment = hp_metadata.parse_experiment_plugin_data(content[hp_metadata.EXPERIMENT_TAG])
    infos = {i.name: i.type for i in experiment.hparam_infos}
    want_infos = {k: data_type_of(v) for k, v in hparams.items()}
    check(infos == want_infos, "experiment hparam_infos %s, want %s", infos, want_infos)
    metrics = [(m.name.group, m.name.tag) for m in experiment.metric_infos]
    want_metrics = [("", t) for t in expected["metric_tags"]]
    check(metrics == want_metrics, "experiment metric_infos %s, want %s", metrics, want_metrics)
    check(experiment.time_created_secs > 1e9, "time_created_secs %r", experiment.time_created_secs)

    start = hp_metadata.parse_session_start_info_plugin_data(
        content[hp_metadata.SESSION_START_INFO_TAG]
    )
    check(set(start.hparams) == set(hparams), "session hparams %s", sorted(start.hparams))
    for name, value in hparams.items():
        if name in start.hparams:
            check_value("session_start_info.hparams[%s]" % name, start.hparams[name], value)
    check(start.start_time_secs > 1e9, "start_time_secs %r", start.start_time_secs)

    end = hp_metadata.parse_session_end_info_plugin_data(content[hp_metadata.SESSION_END_INFO_TAG])
    check(end.status == expected["session_end_status"], "session_end_info status %d", end.status)
    check(end.end_time_secs >= start.start_time_secs, "end_time_secs %r", end.end_time_secs)


def check_dashboard(run_dir, expected):
    """What the HParams dashboard gets: its handlers on a data provider over the logdir."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import backend_context
    from tensorboard.plugins.hparams import get_experiment
    from tensorboard.plugins.hparams import list_session_groups

    logdir = os.path.dirname(os.path.abspath(run_dir))
    run = os.path.basename(os.path.abspath(run_dir))
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, logdir)
    tb = base_plugin.TBContext(logdir=logdir, data_provider=provider, multiplexer=mux)
    ctx = backend_context.Context(tb)
    rctx = context.RequestContext()
    experiment = get_experiment.Handler(rctx, ctx, "", api_pb2.GetExperimentRequest()).run()
    names = sorted(i.name for i in experiment.hparam_infos)
    check(names == sorted(expected["hparams"]), "dashboard hparams %s", names)
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0,
        slice_size=10,
        allowed_statuses=[  # the dashboard's default: every status
            api_pb2.STATUS_UNKNOWN,
            api_pb2.STATUS_SUCCESS,
            api_pb2.STATUS_FAILURE,
            api_pb2.STATUS_RUNNING,
        ],
    )
    for m in experiment.metric_infos:
        request.col_params.add(metric=m.name, include_in_result=True)
    for i in experiment.hparam_infos:
        request.col_params.add(hparam=i.name, include_in_result=True)
    groups = list_session_groups.Handler(rctx, ctx, "", request).run().session_groups
    if not check(len(groups) == 1 and len(groups[0].sessions) == 1, "dashboard groups %s", groups):
        return
    session = groups[0].sessions[0]
    check(session.name == run, "dashboard session %r, want %r", session.name, run)
    check(session.status == expected["session_end_status"], "dashboard status %d", session.status)
    for name, value in expected["hparams"].items():
        check_value("dashboard hparam %s" % name, groups[0].hparams[name], value)
    last = {tag: pts[-1] for tag, pts in expected["scalars"].items()}
    got = {mv.name.tag: mv for mv in session.metric_values}
    check(sorted(got) == sorted(expected["metric_tags"]), "dashboard metrics %s", sorted(got))
    for tag, mv in got.items():
        step, value, _ = last[tag]
        check(mv.training_step == step and mv.value == f32(value), "dashboard %s: %s", tag, mv)


def main():
    logging.disable(logging.WARNING)  # the loader logs a corrupt record; the verdict says it
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] != "--corrupt"):
        sys.exit(__doc__)
    run_dir = sys.argv[1]
    with open(sys.argv[2]) as f:
        expected = json.load(f)
    acc = load(run_dir)
    if len(sys.argv) == 4:
        read, written = check_corrupt(acc, expected["scalars"])
        verdict = "OK: dropped the corrupt record: read %d of %d scalars, none wrong" % (
            read,
            written,
        )
    else:
        total = check_scalars(acc, expected["scalars"])
        check_hparams(acc, expected)
        check_dashboard(run_dir, expected)
        verdict = "OK: %d scalars in %d tags, %d hparams, session end" % (
            total,
            len(expected["scalars"]),
            len(expected["hparams"]),
        )
    for failure in FAILURES:
        print("FAIL:", failure)
    if FAILURES:
        sys.exit(1)
    print(verdict)


if __name__ == "__main__":
    main()
