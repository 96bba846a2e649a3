// Device contexts, the caching allocator and the core/device_memory.h hooks.
#include "backend/cuda/runtime.h"

#include <nccl.h>

#include <array>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/cuda/check_cuda.h"
#include "core/allocator.h"
#include "core/device_memory.h"
#include "core/error.h"

namespace scaledl {

namespace {
constexpr int kMaxDevices = 16;

// Blocks are rounded to 512 bytes and reused by exact size: a training step asks for the same
// sizes every time, so after the first step no cudaMalloc (and no implicit sync) happens.
class CachingAllocator {
 public:
  void* alloc(size_t bytes, int device) {
    const size_t size = round(bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        note_use(p, size);
        return p;
      }
    }
    SDL_CUDA(cudaSetDevice(device));
    void* p = nullptr;
    cudaError_t rc = cudaMalloc(&p, size);
    if (rc == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached(device);
      rc = cudaMalloc(&p, size);
    }
    if (rc == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      std::lock_guard<std::mutex> lock(mu_);
      throw Error("cuda", "out of memory allocating " + mib(size) + " on cuda:" +
                              std::to_string(device) + " (" + mib(in_use_) +
                              " in use by scaledl); use a smaller --batch");
    }
    SDL_CUDA(rc);
    std::lock_guard<std::mutex> lock(mu_);
    ++device_allocs_;
    note_use(p, size);
    return p;
  }

  void free(void* p) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) return;
    in_use_ -= it->second;
    cached_ += it->second;
    free_[it->second].push_back(p);
    sizes_.erase(it);
  }

  DeviceMemoryStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return {in_use_, cached_, peak_, device_allocs_};
  }

 private:
  static size_t round(size_t b) { return b == 0 ? 512 : (b + 511) / 512 * 512; }
  static std::string mib(size_t b) { return std::to_string(b >> 20) + " MiB"; }
  void note_use(void* p, size_t size) {
    sizes_[p] = size;
    in_use_ += size;
    if (in_use_ > peak_) peak_ = in_use_;
  }
  void release_cached(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    cudaSetDevice(device);
    cudaDeviceSynchronize();
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) cudaFree(p);
    free_.clear();
    cached_ = 0;
  }

  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  std::map<void*, size_t> sizes_;
  size_t in_use_ = 0, cached_ = 0, peak_ = 0, device_allocs_ = 0;
};

struct DeviceState {
  std::once_flag once;
  cuda::Context ctx;
  CachingAllocator alloc;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

std::array<DeviceState, kMaxDevices>& devices() {
  // Never destroyed: tensors freed during static destruction still find their allocator.
  static auto* d = new std::array<DeviceState, kMaxDevices>();
  return *d;
}

DeviceState& state(Device device) {
  SDL_ASSERT(!device.is_cpu(), "the cuda runtime was asked for cpu memory");
  const std::string problem = cuda_device_problem(device);
  if (!problem.empty()) throw Error("device", device.str() + " is not available: " + problem);
  return devices()[static_cast<size_t>(device.index)];
}

struct Probe {
  int count = 0;
  std::string reason;
};

const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    int n = 0;
    const cudaError_t rc = cudaGetDeviceCount(&n);
    if (rc != cudaSuccess) {
      (void)cudaGetLastError();
      r.reason = std::string("no usable CUDA device (") + cudaGetErrorString(rc) +
                 "); run on a host with an NVIDIA GPU and driver, or use --device cpu";
      return r;
    }
    r.count = n < kMaxDevices ? n : kMaxDevices;
    if (r.count == 0) r.reason = "this host has no CUDA device; use --device cpu";
    return r;
  }();
  return p;
}
}  // namespace

int cuda_device_count() { return probe().count; }
const char* cuda_unavailable_reason() { return probe().reason.c_str(); }

std::string cuda_device_description(int i) {
  cudaDeviceProp p{};
  SDL_CUDA(cudaGetDeviceProperties(&p, i));
  char line[512];
  std::snprintf(line, sizeof line, "%s, %.1f GiB, sm_%d%d", p.name,
                static_cast<double>(p.totalGlobalMem) / (1 << 30), p.major, p.minor);
  return line;
}

std::string cuda_library_versions() {
  int rt = 0;
  cudaRuntimeGetVersion(&rt);
  int nccl = 0;
  ncclGetVersion(&nccl);
  const size_t dnn = cudnnGetVersion();
  int cublas = 0;
  cublasGetProperty(MAJOR_VERSION, &cublas);
  int cublas_minor = 0;
  cublasGetProperty(MINOR_VERSION, &cublas_minor);
  char line[256];
  std::snprintf(line, sizeof line, "CUDA runtime %d.%d, cuDNN %zu.%zu.%zu, cuBLAS %d.%d, NCCL %d.%d.%d",
                rt / 1000, rt % 1000 / 10, dnn / 10000, dnn % 10000 / 100, dnn % 100, cublas,
                cublas_minor, nccl / 10000, nccl % 10000 / 100, nccl % 100);
  return line;
}

void* device_alloc(size_t bytes, Device device) {
  DeviceState& s = state(device);
  cuda::context(device);
  return s.alloc.alloc(bytes, device.index);
}

void device_free(void* p, Device device) noexcept {
  if (device.index >= 0 && device.index < kMaxDevices) devices()[device.index].alloc.free(p);
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device,
                 size_t bytes) {
  if (bytes == 0) return;
  const Device on = dst_device.is_cpu() ? src_device : dst_device;
  // Between two GPUs: the source's queued work first (the copy runs on the destination's).
  if (!dst_device.is_cpu() && !src_device.is_cpu() && !(dst_device == src_device))
    device_synchronize(src_device);
  cuda::Context& c = cuda::context(on);
  SDL_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, c.stream));
  if (dst_device.is_cpu() || src_device.is_cpu()) SDL_CUDA(cudaStreamSynchronize(c.stream));
}

void device_copy_ahead(void* dst, Device device, const void* src, size_t bytes) {
  if (bytes == 0) return;
  cuda::Context& c = cuda::context(device);
  // The work queued before the previous copy ahead read the buffer this one overwrites.
  SDL_CUDA(cudaStreamWaitEvent(c.copy_stream, c.consumed, 0));
  SDL_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c.copy_stream));
  SDL_CUDA(cudaEventRecord(c.copied, c.copy_stream));
  SDL_CUDA(cudaStreamWaitEvent(c.stream, c.copied, 0));
  SDL_CUDA(cudaEventRecord(c.consumed, c.stream));
}

void device_synchronize(Device device) {
  SDL_CUDA(cudaStreamSynchronize(cuda::context(device).stream));
}

void device_memset_zero(void* p, Device device, size_t bytes) {
  SDL_CUDA(cudaMemsetAsync(p, 0, bytes, cuda::context(device).stream));
}

DeviceMemoryStats device_memory_stats(Device device) { return state(device).alloc.stats(); }

void* pinned_alloc(size_t bytes) {
  if (cuda_device_count() == 0) return aligned_alloc_bytes(bytes).release();
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocPortable) != cudaSuccess) {
    (void)cudaGetLastError();
    throw Error("memory", "cannot allocate " + std::to_string(bytes) +
                              " bytes of page-locked host memory; use a smaller --batch or "
                              "--prefetch");
  }
  return p;
}

void pinned_free(void* p) noexcept {
  if (cuda_device_count() == 0)
    AlignedFree{}(p);
  else
    cudaFreeHost(p);
}

namespace cuda {

Context& context(Device device) {
  DeviceState& s = state(device);
  SDL_CUDA(cudaSetDevice(device.index));
  std::call_once(s.once, [&] {
    s.ctx.device = device.index;
    SDL_CUDA(cudaStreamCreateWithFlags(&s.ctx.stream, cudaStreamNonBlocking));
    SDL_CUDA(cudaStreamCreateWithFlags(&s.ctx.copy_stream, cudaStreamNonBlocking));
    SDL_CUDA(cudaEventCreateWithFlags(&s.ctx.copied, cudaEventDisableTiming));
    SDL_CUDA(cudaEventCreateWithFlags(&s.ctx.consumed, cudaEventDisableTiming));
    SDL_CUDNN(cudnnCreate(&s.ctx.cudnn));
    SDL_CUDNN(cudnnSetStream(s.ctx.cudnn, s.ctx.stream));
    SDL_CUBLAS(cublasCreate(&s.ctx.cublas));
    SDL_CUBLAS(cublasSetStream(s.ctx.cublas, s.ctx.stream));
  });
  return s.ctx;
}

void* workspace(Device device, size_t bytes) {
  DeviceState& s = state(device);
  if (bytes > s.workspace_bytes) {
    if (s.workspace) device_free(s.workspace, device);
    s.workspace = device_alloc(bytes, device);
    s.workspace_bytes = bytes;
  }
  return s.workspace;
}

cudaDataType_t cuda_dtype(DType t) {
  switch (t) {
    case DType::f32: return CUDA_R_32F;
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    default: throw Error("cuda", "no CUDA floating type for " + std::string(dtype_name(t)));
  }
}

cudnnDataType_t cudnn_dtype(DType t) {
  switch (t) {
    case DType::f32: return CUDNN_DATA_FLOAT;
    case DType::f16: return CUDNN_DATA_HALF;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    default: throw Error("cuda", "no cuDNN type for " + std::string(dtype_name(t)));
  }
}

}  // namespace cuda
}  // namespace scaledl
