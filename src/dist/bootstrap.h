// Where this process sits in a distributed job, read from the launcher's environment: Open MPI
// (mpirun), Slurm (srun) or torchrun-style variables; and Slurm hostlist expansion.
#pragma once
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace scaledl {

struct LaunchInfo {
  int rank = 0, world = 1, local_rank = 0, local_world = 1;
  std::string launcher = "none";  // "mpirun", "srun", "torchrun", "none"
  std::vector<std::string> nodes;  // the job's hosts, when the launcher names them (srun)
  std::string master_addr;         // rendezvous host (torchrun-style, or srun's first node)
  int master_port = 0;             // 0: none given
};

// Reads, in this order of precedence, Open MPI (OMPI_COMM_WORLD_*), Slurm srun (SLURM_PROCID,
// SLURM_NTASKS, ...) and torchrun-style (RANK, WORLD_SIZE, ...) variables; none of them gives a
// single-process LaunchInfo. Inconsistent or non-numeric values throw Error naming the variable.
// `env` looks a variable up (nullptr when unset); tests pass a map.
LaunchInfo detect_launch(const std::function<const char*(const char*)>& env =
                             [](const char* k) { return static_cast<const char*>(std::getenv(k)); });

// Expands a Slurm hostlist: "node[01-03,07],gpu5,rack[1-2]-n[1-2]" -> node01 node02 node03
// node07 gpu5 rack1-n1 rack1-n2 rack2-n1 rack2-n2. Zero-padding of a range's low end is kept;
// several bracket groups in one name expand as a product (leftmost outermost). "" gives no
// hosts; malformed input throws Error naming it.
std::vector<std::string> expand_hostlist(const std::string& hostlist);

}  // namespace scaledl
