#!/usr/bin/env bash
# The browser test of the notebook side (ctest: hub.browser, labels slow;browser): starts a
# private hub on a private Slurm (tests/hub/hub_harness.sh) with SCALEDL_BINARY as the portal and
# the notebooks' scaledl, runs tests/hub/browser_test.py in headless Chromium, and stops
# everything on every way out (success, failure, signal).
# usage: tests/hub/run_browser.sh SCALEDL_BINARY
# exit: 0 passed, 1 failed, 77 skipped (not root; jupyterhub, chromium, chromium-driver,
#       python3-selenium, Slurm or the .venv-hub (PyPI) missing; a scaledl without `portal`).
# Environment: SCALEDL_SCREENSHOTS (folder for the portal-*.png screenshots, e.g. docs/img;
#              none when unset), HUB_KEEP=1 keeps the test folder (logs) after a pass too,
#              BROWSER_TEST_NO_PORTAL=1 runs only the hub and notebook cases.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
say() { echo "run_browser: $*" >&2; }
skip() { say "skip: $*"; exit 77; }
(($# == 1)) || { say "usage: run_browser.sh SCALEDL_BINARY"; exit 2; }
bin=$(realpath -- "$1") || skip "no scaledl binary at $1"
[ -x "$bin" ] || skip "no scaledl binary at $1"
[ "$(id -u)" = 0 ] || skip "needs root (test users, PAM, Slurm)"
for b in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$b" ] || skip "$b is missing (apt-get install chromium chromium-driver)"
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null || skip "python3-selenium is missing"
if [ "${BROWSER_TEST_NO_PORTAL:-}" != 1 ] && ! "$bin" portal --help >/dev/null 2>&1; then
  skip "$bin has no 'portal' subcommand"
fi

dir=$(mktemp -d /tmp/hubt.XXXXXX)
test_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$test_pid" ] && kill -0 "$test_pid" 2>/dev/null; then
    kill -TERM "$test_pid" 2>/dev/null  # browser_test.py quits its browsers on SIGTERM
    wait "$test_pid" 2>/dev/null || true
  fi
  "$ROOT/tests/hub/hub_harness.sh" stop "$dir" || say "warning: hub_harness.sh stop $dir failed"
  if ((rc == 0)) && [ "${HUB_KEEP:-}" != 1 ]; then rm -rf "$dir"; else say "logs kept in $dir"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

rc=0
env_lines=$(SCALEDL_BIN=$bin "$ROOT/tests/hub/hub_harness.sh" start "$dir") || rc=$?
((rc == 2)) && skip "hub_harness.sh: a prerequisite is missing (see above)"
((rc == 0)) || { say "error: hub_harness.sh start failed"; exit 1; }
eval "$env_lines"
export HUB_HARNESS_DIR=$dir

t0=$(date +%s)
rc=0
# In the background, so that a signal reaches the trap at once (and the trap stops the test).
: >"$dir/browser_test.log"
/usr/bin/python3 -u "$ROOT/tests/hub/browser_test.py" >>"$dir/browser_test.log" 2>&1 &
test_pid=$!
tail -n +1 -f --pid="$test_pid" "$dir/browser_test.log" &
wait "$test_pid" || rc=$?
test_pid=""
wait  # the tail, which ends with the test
say "browser_test.py: exit $rc after $(($(date +%s) - t0)) s"
if ((rc != 0)); then
  echo "---- last lines of $HUB_LOG ----" >&2
  grep -v ConfigProxy "$HUB_LOG" | tail -n 40 >&2 || true
  for f in /home/sdl-alice/jupyterhub-slurm-*.log; do
    [ -f "$f" ] || continue
    echo "---- last lines of $f ----" >&2
    tail -n 20 "$f" >&2
  done
  exit 1
fi
