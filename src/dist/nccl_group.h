// The NCCL group: collectives over CUDA memory, with the MPI group's timeout and error contract.
#pragma once
#include <chrono>

#include "core/device.h"
#include "dist/bootstrap.h"
#include "dist/group.h"

namespace scaledl {

// A group over every rank of the job on this process's GPU (nccl_device). The NCCL unique id
// travels over MPI under mpirun or srun (the MPI group's broadcast), over the TCP rendezvous at
// MASTER_ADDR:MASTER_PORT for torchrun-style launches, and nowhere for a world of one. Set-up
// (rendezvous and communicator) is bounded by `timeout`, which is also the collectives' timeout.
// Data must be CUDA memory on nccl_device(); host memory is refused (use the MPI group).
// Without a CUDA device, or in a build without CUDA, it throws Error saying why.
GroupPtr nccl_group(const LaunchInfo& launch,
                    std::chrono::milliseconds timeout = std::chrono::seconds(60));

// The GPU the NCCL group of this process uses: cuda:(local rank mod device count).
Device nccl_device(const LaunchInfo& launch);

}  // namespace scaledl
