// Built without SCALEDL_CUDA: nccl_group() says how to get it.
#include "core/error.h"
#include "dist/nccl_group.h"

namespace scaledl {

namespace {
[[noreturn]] void no_nccl() {
  throw Error("dist",
              "the NCCL group needs a CUDA build and this one has no CUDA backend; "
              "rebuild with -DSCALEDL_CUDA=ON or use the MPI group");
}
}  // namespace

GroupPtr nccl_group(const LaunchInfo&, std::chrono::milliseconds) {
  no_nccl();
}
Device nccl_device(const LaunchInfo&) {
  no_nccl();
}

}  // namespace scaledl
