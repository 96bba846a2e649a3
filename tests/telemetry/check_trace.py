#!/usr/bin/env python3
"""Checks Chrome trace-event files written by `scaledl train --trace` (python3, no packages).

    check_trace.py RUN_DIR/trace.json [RUN_DIR/trace.rank1.json ...] [--expect-overlap]
                   [--require CAT,CAT...]
    check_trace.py --self-test

Every file must be a JSON object with a "traceEvents" list; every complete event ("ph": "X")
needs name, ph, ts, dur >= 0, pid and tid. Per track (pid, tid) the spans must nest: two spans
either do not overlap or one lies inside the other. --require: each category must have a span.
--expect-overlap: in some process a "comm" span (the communication thread's allreduce) overlaps
in time a backward span (category "backward", or the "backward" phase) on another track.
Exit status 0 when every check passes, 1 otherwise; the problems are printed.
"""
import argparse
import json
import os
import sys
import tempfile

REQUIRED = ("name", "ph", "ts", "dur", "pid", "tid")


def load_events(path, problems):
    """The events of one file; problems found on the way are appended."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        problems.append(f"{path}: not readable as JSON: {e}")
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        problems.append(f'{path}: not an object with a "traceEvents" list')
        return []
    return doc["traceEvents"]


def check_fields(events, where, problems):
    """The complete events with every required field (the others are reported)."""
    spans = []
    for i, e in enumerate(events):
        if not isinstance(e, dict) or "ph" not in e:
            problems.append(f"{where}: event {i} has no ph: {e!r}")
            continue
        if e["ph"] != "X":
            continue
        missing = [k for k in REQUIRED if k not in e]
        if missing:
            problems.append(f"{where}: event {i} lacks {', '.join(missing)}: {e!r}")
            continue
        if not isinstance(e["name"], str):
            problems.append(f"{where}: event {i} has a name that is not a string: {e!r}")
            continue
        numbers = all(isinstance(e[k], (int, float)) and not isinstance(e[k], bool)
                      for k in ("ts", "dur"))
        if not numbers or e["dur"] < 0:
            problems.append(f"{where}: event {i} needs numeric ts and dur >= 0: {e!r}")
            continue
        spans.append(e)
    return spans


def tracks(spans):
    """Spans by (pid, tid), each list ordered by start, longer (the parent) first."""
    out = {}
    for e in spans:
        out.setdefault((e["pid"], e["tid"]), []).append(e)
    for lst in out.values():
        lst.sort(key=lambda e: (e["ts"], -e["dur"]))
    return out


def check_nesting(spans, problems):
    """Per track, no two spans partially overlap."""
    for (pid, tid), lst in tracks(spans).items():
        stack = []  # open spans, innermost last
        for e in lst:
            start, end = e["ts"], e["ts"] + e["dur"]
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= start:
                stack.pop()
            if stack and end > stack[-1]["ts"] + stack[-1]["dur"]:
                p = stack[-1]
                problems.append(
                    f"pid {pid} tid {tid}: {e['name']!r} [{start}, {end}] starts inside "
                    f"{p['name']!r} [{p['ts']}, {p['ts'] + p['dur']}] and ends after it")
                continue
            stack.append(e)


def is_backward(e):
    return e.get("cat") == "backward" or e["name"] == "backward"


def overlaps(spans):
    """(comm span, backward span) pairs of one pid on different tids that overlap in time."""
    found = []
    by_pid = {}
    for e in spans:
        by_pid.setdefault(e["pid"], []).append(e)
    for lst in by_pid.values():
        comm = [e for e in lst if e.get("cat") == "comm"]
        back = [e for e in lst if is_backward(e)]
        for c in comm:
            for b in back:
                if c["tid"] == b["tid"]:
                    continue
                if max(c["ts"], b["ts"]) < min(c["ts"] + c["dur"], b["ts"] + b["dur"]):
                    found.append((c, b))
    return found


def check(paths, expect_overlap=False, require=()):
    """Problems found in the files together (an empty list: every check passed), and a summary."""
    problems, spans, names = [], [], {}
    for path in paths:
        events = load_events(path, problems)
        spans += check_fields(events, path, problems)
        for e in events:
            if isinstance(e, dict) and e.get("ph") == "M" and e.get("name") == "thread_name":
                names[(e.get("pid"), e.get("tid"))] = e.get("args", {}).get("name")
    check_nesting(spans, problems)
    cats = {e.get("cat") for e in spans}
    for cat in require:
        if cat not in cats:
            problems.append(f'no span of category "{cat}" (categories: {sorted(map(str, cats))})')
    pairs = overlaps(spans)
    if expect_overlap and not pairs:
        problems.append("no comm span overlaps a backward span of its process on another track")
    pids = sorted({e["pid"] for e in spans}, key=str)
    summary = (f"{len(spans)} spans, {len(pids)} processes {pids}, "
               f"{len(tracks(spans))} tracks {sorted(set(map(str, names.values())))}, "
               f"{len({id(c) for c, _ in pairs})} comm spans overlapping backward")
    return problems, summary


def self_test():
    """The checks on small traces: good ones pass, each kind of broken one fails."""
    def x(name, cat, ts, dur, tid, pid=0):
        return {"name": name, "cat": cat, "ph": "X", "ts": ts, "dur": dur, "pid": pid, "tid": tid}

    meta = [{"name": "thread_name", "ph": "M", "pid": 0, "tid": 1, "args": {"name": "train"}},
            {"name": "thread_name", "ph": "M", "pid": 0, "tid": 2, "args": {"name": "comm"}}]
    good = meta + [x("step 0", "step", 0, 100, 1), x("forward", "phase", 0, 40, 1),
                   x("conv1", "forward", 5, 10, 1), x("backward", "phase", 40, 50, 1),
                   x("conv1", "backward", 80, 10, 1), x("fc", "backward", 40, 0, 1),
                   x("allreduce", "comm", 60, 30, 2)]
    cases = [  # (name, files' events, expect_overlap, require, passes)
        ("good", [good], True, ("comm", "backward", "forward"), True),
        ("good without overlap asked", [good], False, (), True),
        ("touching siblings", [[x("a", "c", 0, 5, 1), x("b", "c", 5, 5, 1)]], False, (), True),
        ("partial overlap", [[x("a", "c", 0, 10, 1), x("b", "c", 5, 10, 1)]], False, (), False),
        ("child past parent", [good + [x("late", "c", 90, 20, 1)]], False, (), False),
        ("negative dur", [[x("a", "c", 0, -1, 1)]], False, (), False),
        ("no dur", [[{k: v for k, v in x("a", "c", 0, 1, 1).items() if k != "dur"}]], False, (),
         False),
        ("no tid", [[{k: v for k, v in x("a", "c", 0, 1, 1).items() if k != "tid"}]], False, (),
         False),
        ("comm after backward", [[x("backward", "phase", 0, 10, 1), x("allreduce", "comm", 10, 5, 2)]],
         True, (), False),
        ("comm on the same track", [[x("backward", "phase", 0, 10, 1), x("allreduce", "comm", 2, 5, 1)]],
         True, (), False),
        ("comm of another rank", [[x("backward", "phase", 0, 10, 1, pid=0)],
                                  [x("allreduce", "comm", 2, 5, 2, pid=1)]], True, (), False),
        ("two ranks", [[x("backward", "phase", 0, 10, 1, pid=0), x("allreduce", "comm", 2, 5, 2, pid=0)],
                       [x("backward", "phase", 0, 10, 1, pid=1)]], True, (), True),
        ("missing category", [good], False, ("data",), False),
    ]
    failed = 0
    with tempfile.TemporaryDirectory() as d:
        for name, files, expect, require, passes in cases:
            paths = []
            for i, events in enumerate(files):
                p = os.path.join(d, f"{len(paths)}_{i}.json")
                with open(p, "w") as f:
                    json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)
                paths.append(p)
            problems, _ = check(paths, expect, require)
            if (not problems) != passes:
                failed += 1
                print(f"self-test {name!r}: expected {'pass' if passes else 'failure'}, got "
                      f"{problems or 'pass'}")
        bad = os.path.join(d, "bad.json")
        with open(bad, "w") as f:
            f.write('{"traceEvents": [')
        if not check([bad])[0]:
            failed += 1
            print("self-test 'truncated file': expected failure, got pass")
    print(f"self-test: {len(cases) + 1 - failed} of {len(cases) + 1} cases as expected")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="trace files (several ranks' files are read together)")
    ap.add_argument("--expect-overlap", action="store_true",
                    help="a comm span must overlap a backward span of its process on another track")
    ap.add_argument("--require", default="", help="comma-separated categories that must have spans")
    ap.add_argument("--self-test", action="store_true", help="check the checker on small traces")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    if not a.files:
        ap.error("give trace files, or --self-test")
    problems, summary = check(a.files, a.expect_overlap, [c for c in a.require.split(",") if c])
    print(summary)
    for p in problems[:50]:
        print("FAIL:", p)
    if len(problems) > 50:
        print(f"FAIL: ... and {len(problems) - 50} more")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
