#!/usr/bin/env bash
# A private one-node Slurm (Debian slurm-wlm 22.05: munged, slurmctld, slurmd) on localhost, for
# tests: no systemd, nothing outside DIR, ports of its own, so it never meets a system Slurm or
# munged and several instances (different DIRs) can run at once.
#
# usage: slurm_harness.sh start DIR   set up DIR, start the daemons, wait until the node is idle;
#                                     prints on stdout the lines to eval:
#                                       eval "$(tests/slurm/slurm_harness.sh start "$dir")"
#        slurm_harness.sh stop DIR    cancel jobs, stop the daemons (and any job process left),
#                                     wait for them to exit; idempotent, exit 0 unless a process
#                                     outlived SIGKILL
# exit: 0 ok, 1 failure (one line on stderr naming it, then the tail of the daemon's log),
#       2 a prerequisite is missing (binaries: run scripts/setup; not root) or bad usage.
# Environment: SLURM_HARNESS_TIMEOUT (seconds to wait for the node, default 30),
#              SLURM_HARNESS_CRED_EXPIRE (AuthInfo cred_expire, default 5: how long a requeued
#                job waits before it may start again is this + 1 s; see README.md),
#              SLURM_HARNESS_KILLWAIT (KillWait: SIGTERM to SIGKILL, default 5 s),
#              SLURM_HARNESS_DEBUG (SlurmctldDebug/SlurmdDebug, default info; e.g. debug2).
# Logs: DIR/log/{munged,slurmctld,slurmd}.log.
# DIR (made absolute) must be at most 60 characters, without spaces, ',', '#' or '=' (Unix
# socket paths, slurm.conf syntax); a mktemp -d folder is fine. Port picks on the machine go one
# at a time under /tmp/.slurm_harness.ports.lock; a start or stop of one DIR under DIR/.harness.lock.
set -uo pipefail
trap '' PIPE  # a reader that went away must not stop a cleanup half-way
prog=slurm_harness
say() { echo "$prog: $*" >&2; }
usage() { say "usage: slurm_harness.sh start|stop DIR"; exit 2; }
(($# == 2)) || usage
cmd=$1
dir=$(realpath -m -- "$2") || usage
case "$dir" in *[[:space:],\#=]*) say "error: DIR '$dir' must not hold spaces, ',', '#' or '='"; exit 2 ;; esac
((${#dir} <= 60)) || { say "error: DIR '$dir' is over 60 characters (Unix socket paths under it get too long)"; exit 2; }
conf=$dir/etc/slurm.conf
started=()  # daemons this call started, to stop on failure

# --- helpers ----------------------------------------------------------------------------------
# pid from a pid file if that process is alive and runs the expected program, else nothing.
live_pid() { # FILE COMM
  local pid
  [ -r "$1" ] || return 1
  read -r pid <"$1" 2>/dev/null || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  echo "$pid"
}
# Is anything listening on TCP port $1 (IPv4 or IPv6, any address)?
port_busy() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p=":$hex" 'NR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# Every process started by this instance's slurmd (it and its slurmstepds carry the marker in
# their environment) and all their descendants.
instance_pids() {
  local marker="SLURM_HARNESS_INSTANCE=$dir" p roots=() all
  for p in /proc/[0-9]*; do
    grep -qzxF -- "$marker" "$p/environ" 2>/dev/null && roots+=("${p#/proc/}")
  done
  ((${#roots[@]})) || return 0
  # ppid table, then a breadth-first walk from the roots.
  all=$(for p in /proc/[0-9]*/stat; do sed -E 's/^([0-9]+) \(.*\) . ([0-9]+) .*/\1 \2/' "$p" 2>/dev/null; done)
  awk -v roots="${roots[*]}" -v self=$$ '
    { kids[$2] = kids[$2] " " $1 }
    END {
      n = split(roots, q, " "); for (i = 1; i <= n; i++) seen[q[i]] = 1
      for (i = 1; i <= n; i++) { m = split(kids[q[i]], k, " ")
        for (j = 1; j <= m; j++) if (!(k[j] in seen)) { seen[k[j]] = 1; q[++n] = k[j] } }
      for (p in seen) if (p != self) print p
    }' <<<"$all"
}
# Send SIGTERM to the pids, wait up to $1 s, then SIGKILL, wait up to 5 s more.
term_wait() { # SECONDS PID...
  local bound=$1 t p alive
  shift
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null
  for ((t = 0; t < bound * 10; t++)); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null
  for ((t = 0; t < 50; t++)); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  say "error: pid(s) $* survived SIGKILL"
  return 1
}
logtail() { # NAME: dump the end of DIR/log/NAME.log
  local f=$dir/log/$1.log
  [ -s "$f" ] || return 0
  echo "---- last lines of $f ----" >&2
  tail -n 25 "$f" >&2
  echo "----" >&2
}

do_stop() {
  local rc=0 pid pids t
  [ -d "$dir" ] || return 0
  if [ -f "$conf" ] && live_pid "$dir/run/slurmctld.pid" slurmctld >/dev/null; then
    export SLURM_CONF=$conf
    # Cancel every job (pending and running); give them a bounded time to leave the node.
    if [ -n "$(timeout 10 squeue -h -o %i 2>/dev/null)" ]; then
      timeout 10 scancel --quiet --full --user="$(id -un)" 2>/dev/null
      timeout 10 scancel --quiet --user="$(id -un)" 2>/dev/null
      for ((t = 0; t < 100; t++)); do
        [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.1
      done
    fi
  fi
  # The three daemons at once (each takes about 2 s to shut down), then whatever of this
  # instance is left: slurmscriptd, slurmstepds and job processes (they carry the instance's
  # marker in their environment or descend from one that does).
  pids=()
  for d in slurmd slurmctld munged; do
    pid=$(live_pid "$dir/run/$d.pid" "$d") && pids+=("$pid")
  done
  term_wait 10 "${pids[@]}" || rc=1
  mapfile -t pids < <(instance_pids)
  term_wait 5 "${pids[@]}" || rc=1
  rm -f "$dir/run/slurmd.pid" "$dir/run/slurmctld.pid" "$dir/run/munged.pid"
  return $rc
}

# Stop what this call started, name what failed, show its log, exit 1.
fail() { # NAME-OF-LOG MESSAGE
  say "error: $2"
  [ -n "$1" ] && logtail "$1"
  ((${#started[@]})) && do_stop
  exit 1
}

do_start() {
  local b missing=()
  for b in munged mungekey munge unmunge slurmctld slurmd sinfo squeue scontrol sbatch srun scancel flock; do
    command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  if ((${#missing[@]})); then say "error: not installed: ${missing[*]} (run scripts/setup)"; exit 2; fi
  export PATH=$PATH:/usr/sbin:/sbin
  [ "$(id -u)" = 0 ] || { say "error: needs root (slurmd runs jobs as their submitter)"; exit 2; }

  mkdir -p "$dir" || { say "error: cannot create $dir"; exit 1; }
  # One start or stop at a time for a DIR.
  exec 9>"$dir/.harness.lock"
  flock -w 60 9 || { say "error: another start/stop holds $dir/.harness.lock"; exit 1; }
  for d in munged slurmctld slurmd; do
    if live_pid "$dir/run/$d.pid" "$d" >/dev/null; then
      say "error: $d of this DIR is already running (slurm_harness.sh stop $dir first)"
      exit 1
    fi
  done
  mkdir -p "$dir"/{etc,state,spool,log,munge,run} || fail "" "cannot create the folders under $dir"
  chmod 0755 "$dir" "$dir"/{etc,log,run}
  # munge: 0755 so that other users' clients reach the socket (jobs submitted for them, the
  # hub's notebooks); the key itself stays 0400.
  chmod 0700 "$dir"/{state,spool}
  chmod 0755 "$dir/munge"

  # --- munge: a key of its own, its own socket, pid, log and seed, run as root (--force). ---
  local mdir=$dir/munge sock=$dir/munge/munge.socket
  if [ ! -s "$mdir/munge.key" ]; then
    mungekey --create --keyfile="$mdir/munge.key" >/dev/null 2>&1 ||
      dd if=/dev/urandom of="$mdir/munge.key" bs=1024 count=1 status=none ||
      fail "" "cannot create the munge key $mdir/munge.key"
  fi
  chmod 0400 "$mdir/munge.key"
  started+=(munged)
  munged --force --socket="$sock" --key-file="$mdir/munge.key" --pid-file="$dir/run/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$mdir/munged.seed" --num-threads=2 \
    >>"$dir/log/munged.log" 2>&1 8>&- 9>&- || fail munged "munged did not start"
  munge -n -S "$sock" 2>/dev/null | unmunge -S "$sock" >/dev/null 2>&1 ||
    fail munged "munged answers no credential round trip on $sock"

  # --- ports: derived from DIR, the first free pair from there. All port picks and binds on
  # this machine go one at a time, so two instances started at once cannot take the same pair.
  exec 8>/tmp/.slurm_harness.ports.lock
  flock -w 60 8 || fail "" "timed out waiting for /tmp/.slurm_harness.ports.lock"
  local sum ctld_port slurmd_port i
  sum=$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
  for ((i = 0; i < 50; i++)); do
    ctld_port=$((10000 + ((sum + i) % 11000) * 2))  # 10000..31998, below the ephemeral range
    slurmd_port=$((ctld_port + 1))
    port_busy "$ctld_port" || port_busy "$slurmd_port" || break
    ctld_port=
  done
  [ -n "$ctld_port" ] || fail "" "no free TCP port pair in 10000..31999 after 50 tries"

  # --- slurm.conf ---
  local cpus mem_kb mem_mb user cred_expire=${SLURM_HARNESS_CRED_EXPIRE:-5}
  cpus=$(nproc)
  mem_kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
  mem_mb=$((mem_kb * 9 / 10240))
  user=$(id -un)
  cat >"$conf" <<EOF
# Written by tests/slurm/slurm_harness.sh for a private test cluster; see tests/slurm/README.md.
ClusterName=scaledltest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$sock,cred_expire=$cred_expire
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=${SLURM_HARNESS_DEBUG:-info}
SlurmdDebug=${SLURM_HARNESS_DEBUG:-info}
PlugStackConfig=$dir/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Schedule at once after a submission and every second (not every 60 s), so that a requeued job
# starts as soon as its BeginTime passes: fine for one node.
SchedulerParameters=batch_sched_delay=0,sched_interval=1
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# Finished jobs are written to a text file, which \`sacct --completion\` reads (no slurmdbd here).
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
JobRequeue=1
MinJobAge=3600
ReturnToService=2
KillWait=${SLURM_HARNESS_KILLWAIT:-5}
InactiveLimit=0
Waittime=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  : >"$dir/etc/plugstack.conf"

  # --- slurmctld, slurmd (both fork into the background and write their pid files) ---
  export SLURM_CONF=$conf
  started+=(slurmctld)
  SLURM_HARNESS_INSTANCE=$dir slurmctld -f "$conf" >>"$dir/log/slurmctld.log" 2>&1 8>&- 9>&- ||
    fail slurmctld "slurmctld did not start"
  local t
  for ((t = 0; t < 100; t++)); do
    live_pid "$dir/run/slurmctld.pid" slurmctld >/dev/null || { sleep 0.1; continue; }
    scontrol ping 2>/dev/null | grep -q 'is UP' && break
    sleep 0.1
  done
  live_pid "$dir/run/slurmctld.pid" slurmctld >/dev/null || fail slurmctld "slurmctld exited (port $ctld_port taken?)"
  scontrol ping 2>/dev/null | grep -q 'is UP' || fail slurmctld "slurmctld does not answer on port $ctld_port after 10 s"
  started+=(slurmd)
  SLURM_HARNESS_INSTANCE=$dir slurmd -f "$conf" -N localhost >>"$dir/log/slurmd.log" 2>&1 8>&- 9>&- ||
    fail slurmd "slurmd did not start"
  for ((t = 0; t < 100; t++)); do
    port_busy "$slurmd_port" && break
    live_pid "$dir/run/slurmd.pid" slurmd >/dev/null || [ $t -lt 20 ] || break
    sleep 0.1
  done
  port_busy "$slurmd_port" || fail slurmd "slurmd is not listening on port $slurmd_port"
  flock -u 8
  exec 8>&-

  # --- wait for the node to be idle ---
  local bound=${SLURM_HARNESS_TIMEOUT:-30} state=""
  for ((t = 0; t < bound * 5; t++)); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null)
    [ "$state" = idle ] && break
    case "$state" in inval | drain* | fail*) break ;; esac  # these do not pass by themselves
    live_pid "$dir/run/slurmd.pid" slurmd >/dev/null || fail slurmd "slurmd exited"
    live_pid "$dir/run/slurmctld.pid" slurmctld >/dev/null || fail slurmctld "slurmctld exited"
    sleep 0.2
  done
  if [ "$state" != idle ]; then
    say "error: node 'localhost' is '${state:-unknown}', not idle, after $((t / 5)) s: $(sinfo -h -R -o '%E' 2>/dev/null)"
    logtail slurmctld
    logtail slurmd
    do_stop
    exit 1
  fi
  echo "export SLURM_CONF=$conf"
}

case "$cmd" in
  start) do_start ;;
  stop)
    [ -d "$dir" ] || exit 0
    exec 9>"$dir/.harness.lock"
    flock -w 120 9 || { say "error: another start/stop holds $dir/.harness.lock"; exit 1; }
    do_stop
    ;;
  *) usage ;;
esac
