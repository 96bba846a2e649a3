#!/usr/bin/env bash
# A private JupyterHub for tests, with deploy/jupyterhub/jupyterhub_config.py as it ships: PAM
# login, notebooks as Slurm jobs (batchspawner) on a private one-node Slurm
# (tests/slurm/slurm_harness.sh), the scaledl portal as a managed service. No systemd: the hub
# runs from .venv-hub (scripts/hub_venv) and starts configurable-http-proxy itself.
#
# usage: hub_harness.sh start DIR   starts Slurm (DIR/slurm), makes the test users sdl-alice and
#                                   sdl-bob (passwords in DIR/passwords, "user:password" lines),
#                                   DIR/runs (mode 1777), copies scaledl to DIR/bin, starts the hub
#                                   on free ports (state and log in DIR/hub), waits until /hub/api
#                                   answers and prints the lines to eval:
#                                     eval "$(tests/hub/hub_harness.sh start "$dir")"
#                                   exporting HUB_URL, HUB_API_URL, HUB_LOG, HUB_PASSWORDS,
#                                   SLURM_CONF, SCALEDL_RUNS, SCALEDL_BIN, SCALEDL_PORTAL_PORT.
#        hub_harness.sh stop DIR    stops the hub, its proxy and the portal, then Slurm (which
#                                   cancels the notebook jobs); idempotent. Users are kept.
# exit: 0 ok; 1 failure (one line naming it, then the tail of the hub log); 2 a prerequisite is
#       missing (not root, packages, the venv, PyPI for the venv, the scaledl binary) or bad usage.
# Environment: SCALEDL_BIN (the scaledl binary; default ROOT/build/scaledl),
#              HUB_HARNESS_ADMINS (the hub's admin users, default none: both test users are
#                plain users, as the portal's isolation checks need),
#              HUB_HARNESS_TIMEOUT (seconds to wait for the hub, default 90).
# DIR: at most 54 characters (the Slurm harness's socket paths under DIR/slurm), no spaces.
# Test users are made with the comment "scaledl hub test user"; an existing account without it
# is left alone and the start fails (exit 2).
set -euo pipefail
prog=hub_harness
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CONFIG=$ROOT/deploy/jupyterhub/jupyterhub_config.py
VENV=$ROOT/.venv-hub
USERS=(sdl-alice sdl-bob)
MARK="scaledl hub test user"
say() { echo "$prog: $*" >&2; }
usage() { say "usage: hub_harness.sh start|stop DIR"; exit 2; }
(($# == 2)) || usage
cmd=$1
dir=$(realpath -m -- "$2") || usage
case "$dir" in *[[:space:],\#=]*) say "error: DIR '$dir' must not hold spaces, ',', '#' or '='"; exit 2 ;; esac
((${#dir} <= 54)) || { say "error: DIR '$dir' is over 54 characters (Slurm's socket paths under DIR/slurm)"; exit 2; }
hubdir=$dir/hub
log=$hubdir/hub.log
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

logtail() {
  [ -s "$log" ] || return 0
  echo "---- last lines of $log ----" >&2
  tail -n 30 "$log" >&2
  echo "----" >&2
}

# pid from a pid file when that process is alive, else nothing.
live_pid() { # FILE
  local pid
  [ -r "$1" ] || return 1
  read -r pid <"$1" 2>/dev/null || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# All descendants of a pid (children first found breadth-first).
descendants() { # PID
  local all
  all=$(for p in /proc/[0-9]*/stat; do sed -E 's/^([0-9]+) \(.*\) . ([0-9]+) .*/\1 \2/' "$p" 2>/dev/null; done)
  awk -v root="$1" '{ kids[$2] = kids[$2] " " $1 }
    END { n = 1; q[1] = root
      for (i = 1; i <= n; i++) { m = split(kids[q[i]], k, " "); for (j = 1; j <= m; j++) q[++n] = k[j] }
      for (i = 2; i <= n; i++) print q[i] }' <<<"$all"
}

# SIGTERM, up to $1 s, then SIGKILL.
term_wait() { # SECONDS PID...
  local bound=$1 t p alive
  shift
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((t = 0; t < bound * 10; t++)); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
  sleep 0.5
}

do_stop() {
  local hub pids=() p
  if hub=$(live_pid "$hubdir/harness-hub.pid"); then
    mapfile -t pids < <(descendants "$hub")  # the proxy and the portal, before the hub goes
    # SIGTERM: the hub stops the user servers (scancel), the portal service and its proxy.
    term_wait 30 "$hub"
  fi
  if p=$(live_pid "$hubdir/jupyterhub-proxy.pid"); then pids+=("$p"); fi
  local alive=()
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
  term_wait 5 "${alive[@]}"
  rm -f "$hubdir/harness-hub.pid"
  if [ -d "$dir/slurm" ]; then "$ROOT/tests/slurm/slurm_harness.sh" stop "$dir/slurm" || return 1; fi
}

fail() { # MESSAGE
  say "error: $1"
  logtail
  do_stop || true
  exit 1
}

missing() { say "error: $1"; exit 2; }

# Free TCP ports on 127.0.0.1 (held together while picked, so they differ).
free_ports() { # N
  /usr/bin/python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

make_users() {
  local u pw gecos home
  : >"$dir/passwords"
  chmod 0600 "$dir/passwords"
  for u in "${USERS[@]}"; do
    if gecos=$(getent passwd "$u"); then
      [[ "$(cut -d: -f5 <<<"$gecos")" == "$MARK" ]] ||
        missing "user $u exists and is not a harness test user (comment '$MARK'); left alone"
    else
      useradd -m -s /bin/bash -c "$MARK" "$u" || fail "useradd $u failed"
    fi
    # A test user's home starts each run without an earlier run's templates and job logs.
    home=$(getent passwd "$u" | cut -d: -f6)
    rm -rf "${home:?}/scaledl-templates" "$home"/jupyterhub-slurm-*.log
    pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    echo "$u:$pw" | chpasswd || fail "chpasswd for $u failed"
    echo "$u:$pw" >>"$dir/passwords"
  done
}

do_start() {
  [ "$(id -u)" = 0 ] || missing "needs root (PAM login of test users, notebooks run as them)"
  local b
  for b in configurable-http-proxy jupyterhub-singleuser runuser useradd chpasswd curl; do
    command -v "$b" >/dev/null 2>&1 || missing "not installed: $b (run scripts/setup)"
  done
  /usr/bin/python3 -c 'import jupyterhub, notebook, pamela' 2>/dev/null ||
    missing "Debian's jupyterhub, python3-notebook or python3-pamela is not installed (run scripts/setup)"
  local rc=0
  "$ROOT/scripts/hub_venv" || rc=$?
  ((rc == 0)) || { ((rc == 2)) && exit 2; say "error: scripts/hub_venv failed"; exit 1; }
  local bin=${SCALEDL_BIN:-$ROOT/build/scaledl}
  [ -x "$bin" ] || missing "no scaledl binary at $bin (set SCALEDL_BIN)"

  mkdir -p "$dir" "$hubdir" "$dir/bin" "$dir/runs"
  live_pid "$hubdir/harness-hub.pid" >/dev/null && { say "error: a hub of $dir runs (hub_harness.sh stop $dir first)"; exit 1; }
  # Test users reach slurm.conf, the munge socket, the runs folder and the binary under DIR.
  chmod 0755 "$dir" "$dir/bin"
  chmod 1777 "$dir/runs"
  chmod 0700 "$hubdir"
  # A private copy: the build may be replaced while the test runs.
  cp -f "$bin" "$dir/bin/scaledl.new" && mv -f "$dir/bin/scaledl.new" "$dir/bin/scaledl"
  chmod 0755 "$dir/bin/scaledl"

  local out
  rc=0
  out=$("$ROOT/tests/slurm/slurm_harness.sh" start "$dir/slurm") || rc=$?
  ((rc == 2)) && exit 2
  ((rc == 0)) || { say "error: the Slurm harness did not start (see above)"; exit 1; }
  eval "$out"
  # sbatch as a test user talks to munged through its socket: let users through the folder
  # (not list it; the key stays root's, mode 0400).
  chmod 0711 "$dir/slurm" "$dir/slurm/munge"

  make_users

  local ports hub_port api_port proxy_port portal_port
  ports=$(free_ports 4)
  read -r hub_port api_port proxy_port portal_port <<<"$ports"

  : >"$log"
  (
    cd "$hubdir"
    export SCALEDL_HUB_DIR=$hubdir SCALEDL_HUB_PORT=$hub_port SCALEDL_HUB_API_PORT=$api_port \
      SCALEDL_HUB_PROXY_API_PORT=$proxy_port SCALEDL_PORTAL_PORT=$portal_port \
      SCALEDL_HUB_ADMINS=${HUB_HARNESS_ADMINS:-} SCALEDL_HUB_MAX_CPUS=2 SCALEDL_HUB_MAX_GPUS=0 \
      SCALEDL_BIN=$dir/bin/scaledl SCALEDL_RUNS=$dir/runs SCALEDL_DEPLOY_DIR=$ROOT/deploy \
      SCALEDL_HUB_LOG_LEVEL=${HUB_HARNESS_LOG_LEVEL:-INFO} SLURM_CONF LANG=C.UTF-8
    exec setsid "$VENV/bin/python" -m jupyterhub -f "$CONFIG" </dev/null >>"$log" 2>&1
  ) &
  echo $! >"$hubdir/harness-hub.pid"

  local url=http://127.0.0.1:$hub_port t bound=${HUB_HARNESS_TIMEOUT:-90}
  for ((t = 0; t < bound * 5; t++)); do
    curl -fsS -m 2 "$url/hub/api" 2>/dev/null | grep -q '"version"' && break
    live_pid "$hubdir/harness-hub.pid" >/dev/null || fail "jupyterhub exited during start-up"
    sleep 0.2
  done
  curl -fsS -m 2 "$url/hub/api" 2>/dev/null | grep -q '"version"' ||
    fail "jupyterhub does not answer on $url/hub/api after $bound s"

  cat <<EOF
export HUB_URL=$url
export HUB_API_URL=$url/hub/api
export HUB_LOG=$log
export HUB_PASSWORDS=$dir/passwords
export SLURM_CONF=$SLURM_CONF
export SCALEDL_RUNS=$dir/runs
export SCALEDL_BIN=$dir/bin/scaledl
export SCALEDL_PORTAL_PORT=$portal_port
EOF
}

case "$cmd" in
  start) do_start ;;
  stop)
    [ -d "$dir" ] || exit 0
    do_stop
    ;;
  *) usage ;;
esac
