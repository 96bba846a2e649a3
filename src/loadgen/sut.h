// The SystemUnderTest LoadGen drives: a dynamic batcher in front of one worker thread per
// backend (an inference Engine, or a test's fake). Queries wait in one FIFO; a free worker takes
// up to max_batch of them at once, waiting at most max_wait_ms for a batch to fill when fewer
// are there (0: it runs what has arrived). Offline's one huge query therefore runs as whole
// batches, Server's scattered arrivals as what has arrived.
//
// LoadGen's threading contract, as this class keeps it:
//  - IssueQuery is called from LoadGen's issuing thread and must return at once: it only queues.
//  - QuerySamplesComplete may be called from any thread: each worker calls it for its batch, with
//    response data (the class as a float32, as MLPerf's reference ResNet-50 harness writes it)
//    that lives until the call returns (LoadGen copies what it logs).
//  - FlushQueries is called when LoadGen issues no more: nothing is held back beyond max_wait_ms,
//    so there is nothing to flush.
//  - The destructor stops the workers after LoadGen's StartTest has returned.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <mlperf_loadgen/system_under_test.h>

#include "infer/engine.h"
#include "loadgen/qsl.h"

namespace scaledl::lg {

// What runs a batch: n samples of sample_floats() values each, contiguous, into n classes.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual int64_t max_batch() const = 0;
  virtual void run(const float* x, int64_t n, float* classes) = 0;
};

// An Engine as a backend: input [n, C, H, W] (or [n, F]) from the samples, argmax of the output.
class EngineBackend final : public Backend {
 public:
  explicit EngineBackend(infer::Engine& e);
  int64_t max_batch() const override { return max_batch_; }
  void run(const float* x, int64_t n, float* classes) override;
  // Runs each of these batch sizes once, so no plan is built while LoadGen times.
  void warm_up(const std::vector<int64_t>& sizes);

 private:
  infer::Engine& e_;
  int64_t max_batch_;
  Shape sample_;
  std::vector<Tensor> inputs_;  // one per batch size, reused
};

struct BatcherOptions {
  int64_t max_batch = 32;
  double max_wait_ms = 0.0;
};

class BatchingSut final : public mlperf::SystemUnderTest {
 public:
  BatchingSut(std::vector<Backend*> backends, const SampleLibrary& qsl, BatcherOptions o);
  ~BatchingSut() override;

  const std::string& Name() override { return name_; }
  void IssueQuery(const std::vector<mlperf::QuerySample>& samples) override;
  void FlushQueries() override {}

  uint64_t batches() const { return batches_; }
  uint64_t samples() const { return samples_; }
  // The first error a worker met ("" when none); its batch was answered with class -1.
  std::string error() const;

 private:
  struct Pending {
    mlperf::QuerySample sample;
    std::chrono::steady_clock::time_point arrived;
  };
  void work(Backend* b);

  const SampleLibrary& qsl_;
  BatcherOptions o_;
  std::string name_ = "scaledl";
  mutable std::mutex mu_;
  std::string error_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
  uint64_t batches_ = 0, samples_ = 0;  // under mu_
};

}  // namespace scaledl::lg
