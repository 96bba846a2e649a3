#!/usr/bin/env bash
# `scaledl submit` and `scaledl jobs` against a real Slurm on localhost (slurm_harness.sh):
# - a 2-rank Fashion-MNIST run (--nodes 1 --ntasks-per-node 2, srun --mpi=pmix) completes:
#   sacct (--completion: no slurmdbd here) says COMPLETED, its summary says world 2 and the
#   ranks' parameters identical, `scaledl jobs` links the job to its run folder;
# - a job that fails shows FAILED in `scaledl jobs` with its log's path and the exit code;
# - root submits for another user (sdl-carol, made if missing): the job runs as that user in a
#   clean environment, the user owns the run folder; root and nobody are refused;
# - bad requests are refused before sbatch with one line and exit 2.
# Takes about 30 s.
# usage: run_submit.sh SCALEDL   exit 0 pass, 1 fail, 77 Slurm not usable here
set -uo pipefail
scaledl=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/slurm_harness.sh
fail() { echo "run_submit: FAIL $*" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
tmp=$(mktemp -d /tmp/submit.XXXXXX)
chmod 0755 "$tmp"
trap '"$harness" stop "$tmp/slurm" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
env_out=$("$harness" start "$tmp/slurm")
case $? in
  0) eval "$env_out" ;;
  2) echo "run_submit: skip: Slurm is not usable here (scripts/setup installs it; needs root)" >&2; exit 77 ;;
  *) fail "slurm_harness.sh start failed (see above)" ;;
esac
train=(--model lenet5 --data idx:/usr/share/datasets/fashion-mnist --batch 32 --steps 40
       --threads 1 --loader-threads 1 --log-every 20)

# 1. Two ranks, one node, and the job's own record of it.
out=$("$scaledl" submit train --nodes 1 --ntasks-per-node 2 --time 5 --run-dir "$tmp/runs/two" \
  --json --wait "${train[@]}") || { cat "$tmp"/runs/two/slurm-*.out; fail "the 2-rank job did not complete"; }
job=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['job_id'])" "$out")
echo "run_submit: job $job: $out"
grep -q -- '--ntasks-per-node=2' "$tmp/runs/two/job.sbatch" || fail "job.sbatch lacks --ntasks-per-node=2"
grep -q -- 'srun --mpi=pmix' "$tmp/runs/two/job.sbatch" || fail "job.sbatch does not launch with srun --mpi=pmix"
state=$(sacct --completion --noheader --parsable2 --allusers --jobs "$job" --format State)
[ "$state" = COMPLETED ] || fail "sacct says '$state' for job $job, want COMPLETED"
[ "$(json "$tmp/runs/two/summary.json" 'd["world_size"]')" = 2 ] || fail "summary.json: world_size is not 2"
[ "$(json "$tmp/runs/two/summary.json" 'd["params_identical_across_ranks"]')" = True ] ||
  fail "summary.json: the ranks' parameters differ"
[ "$(json "$tmp/runs/two/job.json" 'd["job_id"]')" = "$job" ] || fail "job.json does not record job $job"
"$scaledl" jobs --json >"$tmp/jobs.json" || fail "scaledl jobs failed"
python3 - "$tmp/jobs.json" "$job" "$tmp/runs/two" <<'PY' || fail "scaledl jobs does not list job $job COMPLETED in its run folder"
import json, sys
jobs = [json.loads(l) for l in open(sys.argv[1])]
j = [j for j in jobs if j["job_id"] == sys.argv[2]]
assert j and j[0]["state"] == "COMPLETED" and j[0]["run_dir"] == sys.argv[3], j
PY

# 2. A job that fails: FAILED, with its log and exit code, in the table a person reads.
"$scaledl" submit train --time 5 --run-dir "$tmp/runs/bad" --wait --model lenet5 \
  --data idx:/nonexistent --steps 5 >"$tmp/bad.out" 2>&1 && fail "a job with a missing data folder did not fail"
bad=$(grep -o 'submitted job [0-9]*' "$tmp/bad.out" | grep -o '[0-9]*$')
line=$("$scaledl" jobs | awk -v j="$bad" '$1 == j')
echo "run_submit: $line"
[[ "$line" == *FAILED*"log $tmp/runs/bad/slurm-$bad.out"*"exit 2:0"* ]] || fail "scaledl jobs: '$line'"
grep -q "no such directory" "$tmp/runs/bad/slurm-$bad.out" || fail "the failed job's log lacks its error"

# 3. Root submits for another user: `scaledl submit` runs as that user (runuser, a clean
# environment), who owns the run folder; root and system accounts are refused.
if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null; then
  id sdl-carol >/dev/null 2>&1 || useradd -m -s /bin/bash sdl-carol || fail "useradd sdl-carol"
  mkdir -p "$tmp/runs/shared" && chmod 1777 "$tmp/runs/shared"
  # A secret in root's environment must not reach the user's job.
  JUPYTERHUB_API_TOKEN=secret-of-the-portal "$scaledl" submit train --time 5 \
    --run-dir "$tmp/runs/shared/carol-run" --wait "${train[@]}" --steps 10 --as-user sdl-carol \
    >"$tmp/carol.out" 2>&1 || { cat "$tmp/carol.out"; fail "the job submitted for sdl-carol did not complete"; }
  for f in . job.sbatch job.json summary.json; do
    [ "$(stat -c %U "$tmp/runs/shared/carol-run/$f")" = sdl-carol ] || fail "sdl-carol does not own the run's $f"
  done
  "$scaledl" jobs --user sdl-carol | grep -q "carol-run" || fail "scaledl jobs --user sdl-carol lacks the run"
  job=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['job_id'])" "$tmp/runs/shared/carol-run/job.json")
  scontrol show job "$job" | grep -q "UserId=sdl-carol" || fail "job $job does not run as sdl-carol"
  grep -rq "secret-of-the-portal" "$tmp/runs/shared/carol-run" && fail "root's environment reached the job"
  scontrol show job -d "$job" | grep -q "secret-of-the-portal" && fail "root's environment reached sbatch"
  for u in root nobody; do
    err=$("$scaledl" submit train --run-dir "$tmp/runs/shared/x" --as-user $u --model lenet5 2>&1 >/dev/null)
    [[ "$err" == *"system account"* ]] || fail "--as-user $u was not refused: $err"
  done
fi

# 4. Refused before sbatch: one line naming the flag, exit 2.
expect2() { # WHAT-IT-MUST-SAY ARGS...
  local want=$1 err rc
  shift
  err=$("$scaledl" submit "$@" 2>&1 >/dev/null); rc=$?
  [ $rc = 2 ] || fail "'submit $*' exited $rc, want 2"
  [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "'submit $*' printed more than one line: $err"
  [[ "$err" == *"$want"* ]] || fail "'submit $*': '$err' does not say '$want'"
}
expect2 "--partition" train --partition $'debug\n#SBATCH --uid=0' --run-dir "$tmp/runs/x" --model lenet5
expect2 "one rank per GPU" train --gpus-per-node 4 --ntasks-per-node 2 --run-dir "$tmp/runs/x" --model lenet5
expect2 "one process" infer --ntasks-per-node 2 --run-dir "$tmp/runs/x" --model lenet5
expect2 "sbatch refused" train --partition nosuch --run-dir "$tmp/runs/x" --model lenet5
expect2 "kind" fly --model lenet5
echo "run_submit: PASS"
