#!/usr/bin/env bash
# Stopping a 1-rank `scaledl train` by signal, end to end on the binary:
#   term     SIGTERM mid-epoch: exit 75 within a step plus the checkpoint write, checkpoint and
#            status at that step, summary.json "stopped"; --resume auto then logs the
#            uninterrupted run's losses bit for bit (every step) and ends "completed".
#   sigint2  two SIGINTs: the second ends the run at once (exit 130); status then reads "lost".
#   kill9    SIGKILL while the checkpoint is being written: the previous checkpoint is intact and
#            the run resumes from it; `scaledl status` says "lost", never "running".
#   failed   a diverging run: exit 2, status.json "failed" with the error line, summary.json too.
# usage: run_stop.sh SCALEDL term|sigint2|kill9|failed
set -uo pipefail
scaledl=$1 mode=$2
dir=$(mktemp -d)
trap 'pkill -9 -f -- "$dir/" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "run_stop $mode: FAIL $*" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Waits (up to $2 s) until file $1 has at least $3 lines.
wait_lines() {
  for _ in $(seq 1 $(($2 * 20))); do
    [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$3" ] && return 0
    sleep 0.05
  done
  return 1
}
# The checkpoint's step, from its safetensors header.
ck_step() {
  python3 -c "
import json,struct,sys
f=open(sys.argv[1],'rb'); n=struct.unpack('<Q',f.read(8))[0]
print(json.loads(f.read(n))['__metadata__']['step'])" "$1"
}
# step -> loss of every steps.jsonl line (--log-every 1), one 'step loss' per line.
losses() { python3 -c "
import json,sys
for l in open(sys.argv[1]): d=json.loads(l); print(d['step'], repr(d['loss']))" "$1"; }

case $mode in
term)
  common=(train --model lenet5 --data synthetic:4000 --image-size 28 --batch 16 --epochs 3
          --threads 1 --loader-threads 1 --log-every 1 --heartbeat 1)
  "$scaledl" "${common[@]}" --run-dir "$dir/whole" >"$dir/whole.log" 2>&1 || {
    cat "$dir/whole.log"; fail "the uninterrupted run failed"; }
  "$scaledl" "${common[@]}" --run-dir "$dir/cut" >"$dir/cut.log" 2>&1 &
  pid=$!
  # Mid-epoch 2: past the first epoch's checkpoint (250 steps per epoch).
  wait_lines "$dir/cut/steps.jsonl" 60 330 || { cat "$dir/cut.log"; fail "the run never got to step 330"; }
  [ "$("$scaledl" status "$dir/cut" --json | json /dev/stdin 'd["state"]')" = running ] ||
    fail "status does not say running while the run goes on"
  t0=$(now_ms)
  kill -TERM $pid
  wait $pid
  code=$? ms=$(($(now_ms) - t0))
  cat "$dir/cut.log"
  echo "run_stop term: exit code $code, ${ms} ms after SIGTERM"
  [ $code = 75 ] || fail "exit code $code, want 75 (stopped)"
  [ $ms -lt 5000 ] || fail "took $ms ms to stop (a step is a few ms, the checkpoint under a second)"
  step=$(json "$dir/cut/summary.json" 'd["stopped"]["step"]')
  [ "$(json "$dir/cut/summary.json" 'd["status"]')" = stopped ] || fail "summary.json status is not stopped"
  [ "$(json "$dir/cut/summary.json" 'd["stopped"]["signal"]')" = SIGTERM ] || fail "summary.json does not name SIGTERM"
  [ "$(ck_step "$dir/cut/checkpoint.safetensors")" = "$step" ] || fail "the checkpoint is not at the stop step $step"
  [ "$(json "$dir/cut/status.json" 'd["state"]')" = stopped ] || fail "status.json state is not stopped"
  [ "$(json "$dir/cut/status.json" 'd["checkpoint_step"]')" = "$step" ] || fail "status.json checkpoint_step is not $step"
  [ "$(tail -1 "$dir/cut/steps.jsonl" | json /dev/stdin 'd["step"]')" = "$step" ] || fail "steps.jsonl does not end at step $step"
  [ $((step % 250)) != 0 ] || fail "stopped at an epoch end ($step): not mid-epoch"
  "$scaledl" status "$dir/cut" | grep -q "stopped by SIGTERM at step $step" || fail "scaledl status: $("$scaledl" status "$dir/cut")"
  "$scaledl" "${common[@]}" --run-dir "$dir/cut" --resume auto >"$dir/resume.log" 2>&1 || {
    cat "$dir/resume.log"; fail "the resumed run failed"; }
  grep -q "resumed from .* at step $step" "$dir/resume.log" || fail "the resumed run did not start at step $step"
  diff <(losses "$dir/whole/steps.jsonl") <(losses "$dir/cut/steps.jsonl") >"$dir/diff" ||
    { head "$dir/diff"; fail "the stopped and resumed run's losses differ from the uninterrupted run's"; }
  [ "$(json "$dir/cut/summary.json" 'd["final_loss"]')" = "$(json "$dir/whole/summary.json" 'd["final_loss"]')" ] ||
    fail "final losses differ"
  [ "$(json "$dir/cut/status.json" 'd["state"]')" = completed ] || fail "status.json is not completed after the resume"
  echo "run_stop term: stopped at step $step; resumed: all $(wc -l <"$dir/whole/steps.jsonl") step losses identical"
  ;;
sigint2)
  # Steps of about a second: the second SIGINT comes while the first is still waiting for one.
  "$scaledl" train --model resnet50 --data synthetic:64 --image-size 64 --batch 8 --steps 50 \
    --no-eval --threads 1 --loader-threads 1 --heartbeat 1 --run-dir "$dir/r" >"$dir/log" 2>&1 &
  pid=$!
  wait_lines "$dir/log" 60 2 || { cat "$dir/log"; fail "the run never started"; }
  sleep 1
  kill -INT $pid; sleep 0.05; t0=$(now_ms); kill -INT $pid
  wait $pid
  code=$? ms=$(($(now_ms) - t0))
  cat "$dir/log"
  echo "run_stop sigint2: exit code $code, ${ms} ms after the second SIGINT"
  [ $code = 130 ] || fail "exit code $code, want 130"
  [ $ms -lt 1000 ] || fail "the second SIGINT took $ms ms to end the run"
  grep -q "second SIGINT" "$dir/log" || fail "no line about the second SIGINT"
  [ ! -e "$dir/r/checkpoint.safetensors" ] || fail "a checkpoint was written"
  "$scaledl" status "$dir/r" | grep -q ": lost:" || fail "scaledl status: $("$scaledl" status "$dir/r")"
  ;;
kill9)
  # VGG-16 at 32x32: 34 M parameters, a 270 MB checkpoint (weights and momentum), long enough to
  # be caught in the middle of writing it.
  common=(train --model vgg16 --data synthetic:16 --image-size 32 --batch 2 --steps 3 --no-eval
          --threads 1 --loader-threads 1 --heartbeat 1 --run-dir "$dir/r")
  "$scaledl" "${common[@]}" --stop-after 1 >"$dir/first.log" 2>&1 || { cat "$dir/first.log"; fail "the first run failed"; }
  [ "$(ck_step "$dir/r/checkpoint.safetensors")" = 1 ] || fail "no checkpoint at step 1"
  sum1=$(md5sum <"$dir/r/checkpoint.safetensors")
  "$scaledl" "${common[@]}" --resume auto >"$dir/second.log" 2>&1 &
  pid=$!
  caught=""
  for _ in $(seq 1 6000); do
    if compgen -G "$dir/r/checkpoint.safetensors.tmp.*" >/dev/null; then
      kill -9 $pid; caught=$(stat -c %s "$dir"/r/checkpoint.safetensors.tmp.* 2>/dev/null | head -1); break
    fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.005
  done
  wait $pid 2>/dev/null
  [ -n "$caught" ] || { cat "$dir/second.log"; fail "never saw the checkpoint being written"; }
  echo "run_stop kill9: killed with ${caught} bytes of the new checkpoint written"
  [ "$(md5sum <"$dir/r/checkpoint.safetensors")" = "$sum1" ] || fail "the previous checkpoint changed"
  "$scaledl" status "$dir/r" | grep -q ": lost:" || fail "scaledl status: $("$scaledl" status "$dir/r")"
  "$scaledl" "${common[@]}" --resume auto >"$dir/third.log" 2>&1 || { cat "$dir/third.log"; fail "resuming from the previous checkpoint failed"; }
  grep -q "resumed from .* at step 1" "$dir/third.log" || fail "did not resume at step 1"
  [ "$(json "$dir/r/status.json" 'd["state"]')" = completed ] || fail "not completed"
  ! compgen -G "$dir/r/checkpoint.safetensors.tmp.*" >/dev/null || fail "the killed run's temporary file was left behind"
  ;;
failed)
  "$scaledl" train --model lenet5 --data synthetic:512 --image-size 28 --batch 16 --steps 100 \
    --lr 1e30 --warmup-epochs 0 --no-eval --threads 1 --run-dir "$dir/r" >"$dir/log" 2>&1
  code=$?
  cat "$dir/log"
  [ $code = 2 ] || fail "exit code $code, want 2"
  [ "$(json "$dir/r/status.json" 'd["state"]')" = failed ] || fail "status.json is not failed"
  json "$dir/r/status.json" 'd["error"]' | grep -q "loss is" || fail "status.json has no error line"
  [ "$(json "$dir/r/summary.json" 'd["status"]')" = failed ] || fail "summary.json is not failed"
  "$scaledl" status "$dir/r" | grep -q ": failed at step .*loss is" || fail "scaledl status: $("$scaledl" status "$dir/r")"
  ;;
*) fail "unknown mode" ;;
esac
echo "run_stop $mode: PASS"
