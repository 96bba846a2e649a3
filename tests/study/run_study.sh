#!/usr/bin/env bash
# scaledl study on this machine: a scaling study over 1 and 2 ranks (mpirun) and a precision
# study over fp32 and bf16 with a cell that fails (an unknown precision): each writes its report,
# figures and HTML page, and check_report.py checks every number against the runs' summaries.
# The failed cell is marked failed with its error line, the others are kept, exit code 2.
# usage: run_study.sh SCALEDL   (about 30 s)
set -uo pipefail
scaledl=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "run_study: FAIL $*" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "run_study: skip: gnuplot is not installed (scripts/setup)" >&2; exit 77; }
tmp=$(mktemp -d /tmp/study.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
common=(--model lenet5 --data synthetic:2000 --steps 60 -- --image-size 28 --batch 16 --loader-threads 1)

"$scaledl" study scaling --ranks 1,2 --repeats 2 --output "$tmp/scaling" "${common[@]}" \
  >"$tmp/scaling.out" 2>&1 || { cat "$tmp/scaling.out"; fail "the scaling study failed"; }
cat "$tmp/scaling.out"
python3 "$here/check_report.py" "$tmp/scaling" || fail "scaling report"
grep -q "run 4/4 .*ETA" "$tmp/scaling.out" || fail "no progress line with an ETA"
# The page in a real browser: its scripts run without an error (Chart.js draws the charts).
if [ -x /usr/bin/chromium ]; then
  timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 \
    --dump-dom "file://$tmp/scaling/report.html" 2>"$tmp/console.log" >"$tmp/dom.html" || fail "chromium could not open the report"
  if grep "CONSOLE" "$tmp/console.log" | grep -qiE "uncaught|error"; then
    grep CONSOLE "$tmp/console.log" >&2
    fail "the report page has script errors"
  fi
  grep -q 'ranks2-fp32' "$tmp/dom.html" || fail "the page's table lacks the cells"
fi

"$scaledl" study precision --precisions fp32,bf16,fp99 --output "$tmp/precision" "${common[@]}" \
  >"$tmp/precision.out" 2>&1
rc=$?
cat "$tmp/precision.out"
[ $rc = 2 ] || fail "a study with a failed cell exited $rc, want 2"
grep -q "ranks1-fp99 .*FAILED: .*precision" "$tmp/precision.out" || fail "the failed cell's error line is not shown"
python3 "$here/check_report.py" "$tmp/precision" ranks1-fp99=failed || fail "precision report"
[ -f "$tmp/precision/figures/precision.png" ] || fail "no precision figure"

"$scaledl" study scaling --output "$tmp/scaling" "${common[@]}" >/dev/null 2>"$tmp/again.err" &&
  fail "a second study into the same folder was not refused"
grep -q "already holds a report" "$tmp/again.err" || fail "$(cat "$tmp/again.err")"
"$scaledl" study scaling --ranks 0 --output "$tmp/x" "${common[@]}" 2>/dev/null; [ $? = 2 ] || fail "--ranks 0 not refused with exit 2"
echo "run_study: PASS"
