// Torchrun-style rendezvous over TCP: rank 0 listens on MASTER_PORT and hands a small blob (the
// NCCL unique id) to every other rank, which connects to MASTER_ADDR:MASTER_PORT. Needs no CUDA.
#pragma once
#include <chrono>
#include <cstddef>
#include <string>

namespace scaledl {

// Rank 0 sends the `bytes` at `data` to each of the world - 1 other ranks; every other rank
// receives them into `data`. The whole exchange is bounded by `timeout`: rank 0 gives up when
// not every rank connected in time, another rank when no rank 0 answered at addr:port. Failures
// throw Error naming the address and what to check.
void rendezvous_share(const std::string& addr, int port, int rank, int world, void* data,
                      size_t bytes, std::chrono::milliseconds timeout);

}  // namespace scaledl
