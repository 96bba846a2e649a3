// GradSync: averages gradients across a Group in buckets, overlapped with backward.
//
// The flat gradient buffer is cut into buckets of about `bucket_bytes` from its end (the last
// layers' gradients, which backward finishes first). As backward reports that gradients from
// some offset on are final (Net::set_grad_ready_hook), every bucket lying wholly above that
// offset is handed to a communication thread, which averages it across the group while backward
// goes on; finish() waits for the rest. The Group is used by that thread only while a step's
// buckets are in flight (a Group serves one thread at a time).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.h"
#include "dist/group.h"

namespace scaledl {

struct GradSyncOptions {
  size_t bucket_bytes = 25u << 20;  // f32 bytes per bucket (PyTorch DDP's default)
  bool overlap = true;              // false: every bucket after backward (for comparison)
  WireType wire = WireType::f32;    // f16/bf16: gradients cross the network in 16 bits (half
                                    // the bytes; each rank rounds its part, sums round again)
};

struct GradSyncStats {
  int64_t steps = 0;
  double comm_seconds = 0;     // time the communication thread spent in allreduce calls
  double exposed_seconds = 0;  // time finish() waited after backward: communication not hidden
  int buckets = 0;
  double hidden_fraction() const {
    return comm_seconds > 0 ? std::max(0.0, 1.0 - exposed_seconds / comm_seconds) : 0.0;
  }
};

class GradSync {
 public:
  // grads: the flat f32 gradient buffer; GradSync shares its storage, so a bucket still in
  // flight when the owner goes away (an error unwinding the step) never writes freed memory.
  GradSync(GroupPtr group, Tensor grads, GradSyncOptions options = {});
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // Call before backward.
  void begin_step();
  // From the backward hook: every gradient at offset >= ready_from is final.
  void ready(int64_t ready_from);
  // After backward: launches what is left, waits for every bucket; rethrows a failure.
  void finish();

  int buckets() const;
  GradSyncStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scaledl
