// The group of one process: reductions over one rank leave the data as it is (the sum and the
// average of one value are that value), gathers and scatters are copies.
#include <chrono>
#include <cstring>
#include <string>

#include "core/error.h"
#include "dist/group.h"

namespace scaledl {

namespace {

size_t wire_size(WireType t) { return t == WireType::f32 ? 4 : 2; }

class SingleGroup final : public Group {
 public:
  int rank() const override { return 0; }
  int world() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string backend() const override { return "single"; }

  void allreduce(void*, size_t, WireType, ReduceOp, const std::string&) override { count(); }
  void broadcast(void*, size_t, int root, const std::string& what) override {
    if (root != 0)
      throw Error("dist", what + ": root " + std::to_string(root) +
                              " is not a rank of a one-process group; use root 0");
    count();
  }
  void allgather(const void* send, void* recv, size_t bytes, const std::string&) override {
    if (bytes && send != recv) std::memmove(recv, send, bytes);
    count();
  }
  void reduce_scatter(const void* data, void* out, size_t n, WireType type, ReduceOp,
                      const std::string&) override {
    if (n && data != out) std::memmove(out, data, n * wire_size(type));
    count();
  }
  void barrier(const std::string&) override { count(); }

 private:
  // Nothing moves between processes, so bytes stay 0; calls still count so that telemetry
  // shows the same call pattern as a multi-process run.
  void count() { ++stats_.calls; }
};

}  // namespace

GroupPtr single_process_group() { return std::make_shared<SingleGroup>(); }

}  // namespace scaledl
