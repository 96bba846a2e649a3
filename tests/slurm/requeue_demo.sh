#!/usr/bin/env bash
# Proves, on a private Slurm (slurm_harness.sh) and with a plain bash job, the mechanics the
# trainer relies on to stop at a time-limit warning and go on in a requeued run:
#   sbatch --time=1 --signal=USR1@N --requeue --open-mode=append, the work started with srun;
#   the step traps USR1, writes a marker (the time and SLURM_RESTART_COUNT), runs
#   `scontrol requeue $SLURM_JOB_ID` (with SIGTERM ignored, so the SIGTERM that the requeue
#   sends to the job cannot kill scontrol before it reports), and exits 0; the requeued run
#   (SLURM_RESTART_COUNT=1) sees the marker and exits 0 at once.
# Checks: the step (not the batch shell) got USR1, at least N s before the time limit; scontrol
# requeue exited 0; the job ran exactly twice (Restarts=1) and ended COMPLETED with exit 0:0.
# Prints timings. Takes about 40 s: slurmctld tests time limits (and so sends --signal warnings)
# only every 30 s, the first time 30 s after it starts; a requeued job waits cred_expire+1 s
# (5+1 in the harness) before it may start again. See README.md.
# usage: requeue_demo.sh   exit 0 pass, 1 fail (one line why), 77 Slurm is not installed
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/slurm_harness.sh
N=${REQUEUE_DEMO_WARN:-20}  # --signal=USR1@N: 20 keeps the warning >= 10 s after the start
fail() { echo "requeue_demo: FAIL $*" >&2; exit 1; }
now() { date +%s.%N; }
t_begin=$(now)

tmp=$(mktemp -d /tmp/rqdemo.XXXXXX)
trap '"$harness" stop "$tmp/slurm"; rm -rf "$tmp"' EXIT
env_out=$("$harness" start "$tmp/slurm")
case $? in
  0) eval "$env_out" ;;
  2) echo "requeue_demo: skip: Slurm is not usable here (see above; scripts/setup installs it)" >&2; exit 77 ;;
  *) fail "slurm_harness.sh start failed (see above)" ;;
esac
t_up=$(now)

work=$tmp/work
mkdir -p "$work"
cat >"$work/job.sh" <<'EOF'
#!/bin/bash
# The batch script: log, run the step with srun, log how it ended.
ev() { echo "$1 $(date +%s.%N) ${SLURM_RESTART_COUNT:-0} ${2:-}" >>"$WORK/events"; }
trap 'ev batch-usr1' USR1
trap 'ev batch-term' TERM
ev batch-start
srun bash -c '
  ev() { echo "$1 $(date +%s.%N) ${SLURM_RESTART_COUNT:-0} ${2:-}" >>"$WORK/events"; }
  got=0
  trap "got=1" USR1
  trap "ev step-term; exit 0" TERM
  ev step-start
  if [ -f "$WORK/marker" ]; then ev step-resumed "$(cat "$WORK/marker")"; exit 0; fi
  while [ $got = 0 ]; do sleep 0.1; done
  ev step-usr1
  echo "$(date +%s.%N) ${SLURM_RESTART_COUNT:-0}" >"$WORK/marker.tmp" && mv "$WORK/marker.tmp" "$WORK/marker"
  (trap "" TERM; exec scontrol requeue "$SLURM_JOB_ID") >>"$WORK/requeue.out" 2>&1
  ev step-requeue-rc "$?"
  exit 0
'
ev batch-srun-rc "$?"
EOF
chmod +x "$work/job.sh"

t_submit=$(now)
job=$(WORK=$work sbatch --parsable --job-name=requeue_demo --time=1 --signal="USR1@$N" --requeue \
  --open-mode=append --output="$work/job.out" "$work/job.sh") || fail "sbatch failed"
[[ "$job" =~ ^[0-9]+$ ]] || fail "sbatch printed '$job', not a job id"

# Watch the job (and log every change of state) until it completed after one restart.
field() { grep -o "$1=[^ ]*" <<<"$info" | head -n1 | cut -d= -f2; }
last="" state="" restarts="" info=""
deadline=$(($(date +%s) + 180))
while (($(date +%s) < deadline)); do
  info=$(scontrol show job -o "$job" 2>/dev/null)
  state=$(field JobState) restarts=$(field Restarts)
  line="$state reason=$(field Reason) restarts=$restarts"
  [ "$line" != "$last" ] && echo "$(now) $line" >>"$work/states" && last=$line
  case "$state" in
    COMPLETED) [ "$restarts" -ge 1 ] && break ;;
    FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED) break ;;
  esac
  [ -n "$restarts" ] && [ "$restarts" -gt 1 ] && break
  sleep 0.2
done
t_done=$(now)

show() {
  echo "---- job states seen (time state reason restarts) ----" >&2
  cat "$work/states" >&2
  echo "---- events (what time restart-count detail) ----" >&2
  cat "$work/events" >&2 2>/dev/null
  echo "---- job output ----" >&2
  cat "$work/job.out" "$work/requeue.out" >&2 2>/dev/null
}
ev_field() { awk -v e="$1" -v f="$2" '$1 == e { print $f; exit }' "$work/events" 2>/dev/null; }
check() { "${@:2}" || { show; fail "$1"; }; }

check "job $job ended $state (restarts=$restarts), not COMPLETED after one requeue, within 180 s" \
  test "$state" = COMPLETED -a "$restarts" = 1
check "job's exit code is $(field ExitCode), not 0:0" test "$(field ExitCode)" = 0:0
starts=$(grep -c '^batch-start ' "$work/events")
check "the batch script ran $starts times, not 2" test "$starts" = 2
check "the first run's step got no USR1" test -n "$(ev_field step-usr1 2)"
check "the batch shell got USR1 (without B: only the steps should)" test -z "$(ev_field batch-usr1 2)"
check "scontrol requeue in the step exited $(ev_field step-requeue-rc 4), not 0" test "$(ev_field step-requeue-rc 4)" = 0
check "the requeued run did not see the marker" test -n "$(ev_field step-resumed 2)"
check "the requeued run's SLURM_RESTART_COUNT is $(ev_field step-resumed 3), not 1" test "$(ev_field step-resumed 3)" = 1
check "the marker's SLURM_RESTART_COUNT is $(ev_field step-resumed 5), not 0" test "$(ev_field step-resumed 5)" = 0

# Timings, from the events the job logged.
start1=$(ev_field batch-start 2)
usr1=$(ev_field step-usr1 2)
requeued=$(ev_field step-requeue-rc 2)
start2=$(awk '$1 == "batch-start" && $3 == 1 { print $2; exit }' "$work/events")
lead=$(awk -v s="$start1" -v u="$usr1" -v n="$N" 'BEGIN { printf "%.1f", s + 60 - u }')
check "USR1 came $lead s before the time limit, less than N=$N" awk -v l="$lead" -v n="$N" 'BEGIN { exit !(l >= n - 0.5) }'
awk -v b="$t_begin" -v up="$t_up" -v sb="$t_submit" -v s1="$start1" -v u="$usr1" -v rq="$requeued" \
  -v s2="$start2" -v d="$t_done" -v n="$N" -v lead="$lead" 'BEGIN {
  printf "requeue_demo: harness up in %.1f s; job started %.1f s after submission\n", up - b, s1 - sb
  printf "requeue_demo: USR1 (--signal=USR1@%d, --time=1) came %.1f s after the start, %.1f s before the time limit (%.1f s earlier than limit-%d)\n", n, u - s1, lead, lead - n, n
  printf "requeue_demo: scontrol requeue returned %.2f s after USR1; requeued run started %.1f s after that\n", rq - u, s2 - rq
  printf "requeue_demo: submission to COMPLETED %.1f s\n", d - sb
}'
cat "$work/states"
echo "requeue_demo: PASS (job $job ran twice, COMPLETED, exit 0:0)"
