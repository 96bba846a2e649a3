#!/usr/bin/env bash
# Two "hosts" on one machine: two network namespaces joined by a veth pair (10.77.0.1/24 and
# 10.77.0.2/24), one rank in each, Open MPI's runtime and data over that link only. Runs
# `scaledl comm bench --op all` and a short data-parallel `scaledl train` across them and checks
# exit codes, 0 wrong elements, summary.json (world_size 2, identical parameters on both ranks)
# and that the bytes really crossed the veth.
# usage: run_two_hosts.sh MPIEXEC SCALEDL      exit 77 (ctest: skipped) without root or ip netns
# The namespaces, the veth and the mpirun command line: scripts/two_hosts.sh.
set -uo pipefail
mpiexec=$1 scaledl=$2
say() { echo "run_two_hosts: $*"; }
. "$(cd "$(dirname "$0")/../.." && pwd)/scripts/two_hosts.sh"

dir=$(mktemp -d)
trap 'two_hosts_down; rm -rf "$dir"' EXIT
two_hosts_up "$dir" "$mpiexec" 60
case $? in
  0) ;;
  2) say "SKIP: see above"; exit 77 ;;
  *) say "FAIL making the two hosts"; exit 1 ;;
esac
mpi=("${TWO_HOSTS_MPI[@]}")
v1=$TWO_HOSTS_V1
bytes() { two_hosts_bytes "$1"; }
tx0=$(bytes tx) rx0=$(bytes rx)
status=0
start=$SECONDS

"${mpi[@]}" "$scaledl" comm bench --op all --max-bytes 4M --iters 5 --warmup 1 --timeout 20 \
  --json "$dir/bench.json" >"$dir/bench.out" 2>&1
code=$?
cat "$dir/bench.out"
say "comm bench: exit code $code"
[ "$code" = 0 ] || { say "FAIL comm bench exit code $code"; status=1; }
if ! python3 - "$dir/bench.json" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
ops = {r["op"] for r in rows}
bad = [r for r in rows if r["wrong"] != 0 or r["ranks"] != 2 or r["backend"] != "mpi"]
assert ops == {"allreduce", "broadcast", "allgather", "reduce_scatter"}, ops
assert not bad, bad
print(f"run_two_hosts: comm bench: {len(rows)} rows, 2 ranks (mpi), 0 wrong")
EOF
then say "FAIL comm bench did not report 0 wrong on 2 mpi ranks for all four ops"; status=1; fi

"${mpi[@]}" "$scaledl" train --model lenet5 --data synthetic:2048 --image-size 28 --batch 32 \
  --steps 20 --no-eval --threads 1 --comm-timeout 20 --run-dir "$dir/run" >"$dir/train.out" 2>&1
code=$?
tail -n 5 "$dir/train.out"
say "train: exit code $code"
[ "$code" = 0 ] || { cat "$dir/train.out"; say "FAIL train exit code $code"; status=1; }
if ! python3 - "$dir/run/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["world_size"] == 2 and s["params_identical_across_ranks"] is True, \
    (s.get("world_size"), s.get("params_identical_across_ranks"))
print(f"run_two_hosts: train: world_size 2, parameters identical, {s['steps']} steps, "
      f"final loss {s['final_loss']:.3f}")
EOF
then say "FAIL summary.json: want world_size 2 and params_identical_across_ranks true"; status=1; fi

# ---- The system monitor against the group's own count ----
# Rank 0 runs in namespace 1, so its monitor reads namespace 1's /proc/net/dev: lo and the veth
# $v1, the only way out. From run_start to run_end the bytes it saw leave (and arrive) on $v1
# agree with the bytes rank 0's group says it sent (and received) within 10%. summary.json is
# rank 0's; its "distributed" counts rank 0's collectives from before run_start too (the
# parameter broadcast: with lenet5's 62006 parameters and 20 steps, sent reads ~0.96), and the
# veth adds TCP/IP headers, ACKs and Open MPI's control traffic. Runs once the Trainer records
# summary["monitor"] (the monitor hook, --monitor); skipped before.
if python3 -c 'import json, sys; sys.exit("monitor" not in json.load(open(sys.argv[1])))' \
     "$dir/run/summary.json" 2>/dev/null; then
  if ! python3 - "$dir/run/summary.json" "$v1" <<'EOF'
import json, sys
s, iface = json.load(open(sys.argv[1])), sys.argv[2]
net = s["monitor"]["net"]
assert iface in net, f"monitor.net has no {iface}: {sorted(net)}"
tx, rx = net[iface]["tx_bytes"], net[iface]["rx_bytes"]
sent, received = s["distributed"]["bytes_sent"], s["distributed"]["bytes_received"]
print(f"run_two_hosts: monitor: {iface} sent {tx} B, received {rx} B; the group sent {sent} B, "
      f"received {received} B (sent ratio {tx / max(sent, 1):.3f}, "
      f"received ratio {rx / max(received, 1):.3f})")
assert sent > 0 and abs(tx - sent) <= 0.10 * sent, ("sent", tx, sent)
assert received > 0 and abs(rx - received) <= 0.10 * received, ("received", rx, received)
EOF
  then say "FAIL the monitor's veth bytes and the group's bytes_sent/received differ by over 10%"
       status=1
  fi
else
  say "monitor: summary.json has no \"monitor\" (the Trainer runs no monitor hook): check skipped"
fi
# ---- end of the system monitor check ----

# Rank 1 ran in namespace 2 only if mpirun went through the agent.
if ! grep -q "^10.77.0.2 .*orted" "$dir/agent.log" 2>/dev/null; then
  say "FAIL mpirun never started orted in namespace 2 through the agent"; status=1
fi
# The bench alone moves well over 100 MB each way; 10 MB shows the data took the veth rather
# than loopback or shared memory.
tx=$(($(bytes tx) - tx0)) rx=$(($(bytes rx) - rx0))
say "veth $v1 (namespace 1): sent $((tx / 1000000)) MB, received $((rx / 1000000)) MB"
if [ "$tx" -lt 10000000 ] || [ "$rx" -lt 10000000 ]; then
  say "FAIL want at least 10 MB each way over the veth"; status=1
fi
say "$([ $status = 0 ] && echo PASS || echo FAIL) in $((SECONDS - start)) s"
exit $status
