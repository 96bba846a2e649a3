// Built without SCALEDL_MPI: mpi_group() says how to get it.
#include "core/error.h"
#include "dist/mpi_group.h"

namespace scaledl {

void end_job_on_error(int) {}
std::string mpi_library() { return ""; }

GroupPtr mpi_group(const LaunchInfo&) {
  throw Error("dist", "this build has no MPI; rebuild with -DSCALEDL_MPI=ON");
}

}  // namespace scaledl
