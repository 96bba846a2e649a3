#!/usr/bin/env bash
# Runs scaledl_mpi_check under mpirun and checks the exit code, the time to exit and the output,
# then that no rank outlived the job (a stopped rank must have been killed too).
# usage: run_mpi_check.sh MPIEXEC BINARY RANKS pass|fail BOUND_S PATTERN MODE [ARGS...]
#   pass: exit 0; fail: a non-zero exit (not the wrapper's own timeout) whose output matches the
#   extended regex PATTERN; both within BOUND_S seconds.
set -uo pipefail
mpiexec=$1 bin=$2 ranks=$3 expect=$4 bound=$5 pattern=$6
shift 6
# A tag on the ranks' command lines finds this run's processes and no one else's.
tag="scaledl-mpi-check-$$-$RANDOM"
# Containers often run as root; Open MPI refuses that unless told it is intended.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s%N)
timeout -k 5 $((bound + 30)) "$mpiexec" -n "$ranks" --oversubscribe --mca btl self,vader,tcp \
  "$bin" "$@" "$tag" >"$out" 2>&1
code=$?
ms=$((($(date +%s%N) - start) / 1000000))
cat "$out"
echo "run_mpi_check: $ranks ranks, $*: exit code $code after $((ms / 1000)).$(printf %03d $((ms % 1000))) s"

status=0
if [ "$expect" = pass ] && [ "$code" != 0 ]; then
  echo "run_mpi_check: FAIL want exit code 0" >&2; status=1
fi
if [ "$expect" = fail ]; then
  # mpirun exits 137 itself when a rank died of SIGKILL, so the wrapper's own timeout is told
  # apart by the time, not the code.
  if [ "$code" = 0 ] || [ "$ms" -ge $(((bound + 30) * 1000)) ]; then
    echo "run_mpi_check: FAIL want a non-zero exit code from the job itself" >&2; status=1
  fi
  if ! grep -Eq -- "$pattern" "$out"; then
    echo "run_mpi_check: FAIL output does not match '$pattern'" >&2; status=1
  fi
fi
if [ "$ms" -gt $((bound * 1000)) ]; then
  echo "run_mpi_check: FAIL took more than $bound s" >&2; status=1
fi
sleep 0.5  # mpirun has exited; give the kernel a moment to reap its children
if left=$(pgrep -f -- "$tag"); then
  echo "run_mpi_check: FAIL processes left behind: $(echo $left)" >&2; status=1
  for pid in $left; do kill -9 "$pid" 2>/dev/null; done
fi
exit $status
