# Two "hosts" on one machine, sourced by tests/mpi/run_two_hosts.sh and bench/plan_calibration.sh:
# two network namespaces joined by a veth pair (10.77.0.1/24 and 10.77.0.2/24) and an mpirun
# command line that puts one rank in each, Open MPI's runtime and data over that link only.
#
#   two_hosts_up DIR MPIEXEC [SECONDS]   makes them; DIR holds the agent and its log. Sets
#       TWO_HOSTS_MPI (an array: the mpirun prefix, each run limited to SECONDS, default 60),
#       TWO_HOSTS_NS1/NS2 and TWO_HOSTS_V1 (namespace 1's end of the veth). Returns 2 where it
#       cannot be done here (not root, no ip netns, no NET_ADMIN), printing why, 0 otherwise.
#   two_hosts_down                        kills what runs in them and removes them.
#   two_hosts_bytes tx|rx                 bytes through namespace 1's end of the veth so far.
#
# How the launch works (Open MPI 4.1): mpirun runs inside namespace 1 with
#   --host 10.77.0.1:1,10.77.0.2:1   10.77.0.1 is an address of namespace 1, so mpirun takes it
#                                    for the local host and starts rank 0 itself;
#   --mca plm_rsh_agent AGENT        for the "remote" 10.77.0.2 mpirun runs
#                                    `AGENT 10.77.0.2 orted -mca ...` (as it would run ssh);
#                                    AGENT runs that command line with `ip netns exec NS2 sh -c`,
#                                    so orted and rank 1 live in namespace 2;
#   --mca oob_tcp_if_include 10.77.0.0/24 --mca btl self,tcp --mca btl_tcp_if_include ...
#                                    orted dials back to mpirun, and the ranks exchange data,
#                                    over the veth only (no shared-memory btl between "hosts").
# The environment (OMPI_ALLOW_RUN_AS_ROOT...) reaches orted because ip netns exec keeps it.

two_hosts_up() {
  local dir=$1 mpiexec=$2 limit=${3:-60}
  if [ "$(id -u)" != 0 ]; then echo "two_hosts: needs root (ip netns add)" >&2; return 2; fi
  if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
    echo "two_hosts: ip netns is unavailable (iproute2 missing or no network-namespace support)" >&2
    return 2
  fi
  local id
  id=$(printf '%x%04x' $$ $RANDOM)  # unique per run, short: interface names hold 15 characters
  TWO_HOSTS_NS1="sdl-${id}-a" TWO_HOSTS_NS2="sdl-${id}-b"
  TWO_HOSTS_V1="sv${id}a" _two_hosts_v2="sv${id}b"
  local ns1=$TWO_HOSTS_NS1 ns2=$TWO_HOSTS_NS2 v1=$TWO_HOSTS_V1 v2=$_two_hosts_v2
  if ! { ip netns add "$ns1" && ip netns add "$ns2" &&
         ip link add "$v1" type veth peer name "$v2" &&
         ip link set "$v1" netns "$ns1" && ip link set "$v2" netns "$ns2" &&
         ip -n "$ns1" addr add 10.77.0.1/24 dev "$v1" &&
         ip -n "$ns2" addr add 10.77.0.2/24 dev "$v2" &&
         ip -n "$ns1" link set lo up && ip -n "$ns2" link set lo up &&
         ip -n "$ns1" link set "$v1" up && ip -n "$ns2" link set "$v2" up; } 2>"$dir/setup.err"; then
    cat "$dir/setup.err" >&2
    echo "two_hosts: cannot make network namespaces and a veth pair here" \
      "(container without NET_ADMIN?)" >&2
    return 2
  fi
  # The rsh agent: mpirun calls it as `AGENT [options] HOST COMMAND...`, like ssh.
  cat >"$dir/agent.sh" <<AGENT
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1; shift
echo "\$host \$*" >>"$dir/agent.log"
case "\$host" in
  10.77.0.2) exec ip netns exec "$ns2" /bin/sh -c "\$*" ;;
  *) echo "agent: no namespace for host \$host" >&2; exit 1 ;;
esac
AGENT
  chmod +x "$dir/agent.sh"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  TWO_HOSTS_MPI=(ip netns exec "$ns1" timeout -k 5 "$limit" "$mpiexec" -n 2
                 --host 10.77.0.1:1,10.77.0.2:1 --mca plm_rsh_agent "$dir/agent.sh"
                 --mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24
                 --mca oob_tcp_if_include 10.77.0.0/24)
}

two_hosts_down() {
  # Only processes inside this run's namespaces: a failed run must not leave ranks behind.
  local ns pid
  for ns in ${TWO_HOSTS_NS1:-} ${TWO_HOSTS_NS2:-}; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  # Gone with its namespace, unless setup failed before the move.
  [ -n "${TWO_HOSTS_V1:-}" ] && ip link del "$TWO_HOSTS_V1" 2>/dev/null
  return 0
}

two_hosts_bytes() {
  ip netns exec "$TWO_HOSTS_NS1" cat "/sys/class/net/$TWO_HOSTS_V1/statistics/$1_bytes"
}
