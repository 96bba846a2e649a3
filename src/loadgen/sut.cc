// The batching SUT and the Engine backend (sut.h).
#include "loadgen/sut.h"

#include <algorithm>
#include <cstring>

#include <mlperf_loadgen/loadgen.h>

#include "core/error.h"
#include "core/threads.h"

namespace scaledl::lg {

EngineBackend::EngineBackend(infer::Engine& e)
    : e_(e), max_batch_(e.options().max_batch), sample_(e.graph().input_shape()) {
  for (int64_t n = 1; n <= max_batch_; ++n) {
    Shape s{n};
    s.insert(s.end(), sample_.begin(), sample_.end());
    inputs_.push_back(Tensor::empty(s));
  }
}

void EngineBackend::run(const float* x, int64_t n, float* classes) {
  Tensor& in = inputs_.at(static_cast<size_t>(n - 1));
  std::memcpy(in.data<float>(), x, static_cast<size_t>(in.numel()) * sizeof(float));
  const Tensor& y = e_.run(in);
  const int64_t k = y.numel() / n;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = y.data<float>() + i * k;
    classes[i] = static_cast<float>(std::max_element(row, row + k) - row);
  }
}

void EngineBackend::warm_up(const std::vector<int64_t>& sizes) {
  for (int64_t n : sizes) {
    Tensor& in = inputs_.at(static_cast<size_t>(n - 1));
    std::fill(in.data<float>(), in.data<float>() + in.numel(), 0.f);
    e_.run(in);
  }
}

BatchingSut::BatchingSut(std::vector<Backend*> backends, const SampleLibrary& qsl, BatcherOptions o)
    : qsl_(qsl), o_(o) {
  if (backends.empty()) throw Error("loadgen", "the SUT needs at least one worker");
  // OpenMP's thread count is per thread: workers compute with the caller's (--threads).
  const int threads = num_threads();
  for (Backend* b : backends) {
    if (b->max_batch() < o_.max_batch)
      throw Error("loadgen", "--max-batch " + std::to_string(o_.max_batch) +
                                 " exceeds the backend's " + std::to_string(b->max_batch()));
    workers_.emplace_back([this, b, threads] {
      set_num_threads(threads);
      work(b);
    });
  }
}

std::string BatchingSut::error() const {
  std::lock_guard<std::mutex> lk(mu_);
  return error_;
}

BatchingSut::~BatchingSut() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void BatchingSut::IssueQuery(const std::vector<mlperf::QuerySample>& samples) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const mlperf::QuerySample& s : samples) queue_.push_back({s, now});
  }
  cv_.notify_all();
}

void BatchingSut::work(Backend* b) {
  const size_t floats = qsl_.sample_floats();
  const size_t max_batch = static_cast<size_t>(o_.max_batch);
  std::vector<float> x(max_batch * floats), classes(max_batch);
  std::vector<mlperf::QuerySample> batch;
  std::vector<mlperf::QuerySampleResponse> responses;
  const auto max_wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double, std::milli>(o_.max_wait_ms));
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      if (queue_.size() < max_batch && o_.max_wait_ms > 0)
        cv_.wait_until(lk, queue_.front().arrived + max_wait,
                       [&] { return stop_ || queue_.size() >= max_batch; });
      const size_t n = std::min(max_batch, queue_.size());
      batch.clear();
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(queue_.front().sample);
        queue_.pop_front();
      }
      ++batches_;
      samples_ += n;
      if (!queue_.empty()) cv_.notify_one();  // another worker may take the rest
    }
    try {
      for (size_t i = 0; i < batch.size(); ++i)
        std::memcpy(x.data() + i * floats, qsl_.sample(batch[i].index), floats * sizeof(float));
      b->run(x.data(), static_cast<int64_t>(batch.size()), classes.data());
    } catch (const std::exception& e) {
      // Answered anyway (class -1), so LoadGen finishes; the harness reports the error after.
      std::fill(classes.begin(), classes.end(), -1.f);
      std::lock_guard<std::mutex> lk(mu_);
      if (error_.empty()) error_ = e.what();
    }
    responses.clear();
    for (size_t i = 0; i < batch.size(); ++i)
      responses.emplace_back(batch[i].id, reinterpret_cast<uintptr_t>(&classes[i]), sizeof(float));
    mlperf::QuerySamplesComplete(responses.data(), responses.size());
  }
}

}  // namespace scaledl::lg
