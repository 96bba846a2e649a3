// The MPI group: collectives over host memory with Open MPI (or any MPI-3 library).
#pragma once
#include <string>

#include "dist/bootstrap.h"
#include "dist/group.h"

namespace scaledl {

// Initializes MPI (once per process; finalized at exit) and returns a group over every rank of
// the job. `launch` (from detect_launch) is checked against what MPI sees, so a launch that MPI
// does not know about (srun without PMI support: every process a world of 1) fails here.
// Threading: a Group is used by one thread at a time (training's communication thread); MPI is
// initialized with MPI_THREAD_MULTIPLE so other threads may use MPI on their own communicators.
// Built without SCALEDL_MPI it throws Error.
GroupPtr mpi_group(const LaunchInfo& launch);

// "Open MPI v4.1.4, ..." (the MPI library's version line), or "" in a build without MPI.
std::string mpi_library();

// After a fatal error on this rank (already reported): when this process is part of an MPI job
// of more than one rank, ends the whole job now (MPI_Abort) with `code`, so the other ranks do
// not wait in a collective until their timeout. Otherwise returns.
void end_job_on_error(int code);

}  // namespace scaledl
