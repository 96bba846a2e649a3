// Device memory seen from core: allocation, copies and fills of cuda:N memory, and page-locked
// (pinned) host memory. Defined by the CUDA backend (backend/cuda/runtime.cc) or, in builds
// without it, by backend/cuda/no_cuda.cc, where device calls throw and pinned memory is plain.
#pragma once
#include <cstddef>
#include <string>

#include "core/device.h"

namespace scaledl {

// Number of usable CUDA devices (0 without the backend or without a GPU).
int cuda_device_count();
// Why no CUDA device is usable ("" when one is): the build, the driver, or no GPU present.
const char* cuda_unavailable_reason();
// Why `device` (cuda:N) cannot be used, or "" when it can: the build, the driver, no GPU, or an
// index past the host's devices.
std::string cuda_device_problem(Device device);
// "NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90" for device i < cuda_device_count().
std::string cuda_device_description(int i);
// The CUDA runtime, cuDNN, cuBLAS and NCCL versions loaded ("" without the backend).
std::string cuda_library_versions();

// From the backend's caching allocator; throws Error (out of memory names the bytes).
void* device_alloc(size_t bytes, Device device);
void device_free(void* p, Device device) noexcept;
// Copies bytes between any two of host and device memory; returns once the copy is complete
// and ordered after the device's queued work.
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void device_memset_zero(void* p, Device device, size_t bytes);
// Host -> device on the device's copy stream, overlapping the compute stream's queued work;
// ops queued on the device after this call wait for the copy, and the copy waits for the ops
// queued before the previous call (so two alternating destination buffers are never written
// while queued work still reads them). Returns at once: `src` (pinned memory for a truly
// asynchronous copy) must stay unchanged until the next synchronizing call (Tensor::at,
// to_vector, a copy to the host, device_synchronize).
void device_copy_ahead(void* dst, Device device, const void* src, size_t bytes);
// Waits until the device has run everything queued on it.
void device_synchronize(Device device);

// The caching allocator's figures for a device, in bytes (all 0 without the backend).
struct DeviceMemoryStats {
  size_t in_use = 0, cached = 0, peak_in_use = 0;
  size_t device_allocs = 0;  // cudaMalloc calls so far (a steady training step makes none)
};
DeviceMemoryStats device_memory_stats(Device device);

// Page-locked host memory (fast, asynchronous copies to a GPU); plain aligned memory when
// no GPU is present.
void* pinned_alloc(size_t bytes);
void pinned_free(void* p) noexcept;

}  // namespace scaledl
