// The oneDNN engine and streams, tensor -> memory descriptor mapping, and argument checks
// shared by the cpu backend's op files.
#include "backend/cpu/dnnl_common.h"

#include <algorithm>
#include <iterator>
#include <string_view>

namespace scaledl::cpu::dnnl_detail {

const dnnl::engine& engine() {
  static const dnnl::engine e = [] {
    dnnl::engine made;
    guarded("engine", [&] { made = dnnl::engine(dnnl::engine::kind::cpu, 0); });
    return made;
  }();
  return e;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s = [] {
    dnnl::stream made;
    guarded("stream", [&] { made = dnnl::stream(engine()); });
    return made;
  }();
  return s;
}

dt dnnl_dtype(DType t) {
  switch (t) {
    case DType::f32:
      return dt::f32;
    case DType::f16:
      return dt::f16;
    case DType::bf16:
      return dt::bf16;
    case DType::s8:
      return dt::s8;
    case DType::u8:
      return dt::u8;
    case DType::s32:
      return dt::s32;
  }
  return dt::undef;
}

tag layout_tag(Layout l) {
  return l == Layout::nhwc ? tag::nhwc : tag::nchw;
}

dnnl::memory::desc md4(const Tensor& t) {
  return dnnl::memory::desc(t.shape(), dnnl_dtype(t.dtype()), layout_tag(t.layout()));
}

dnnl::memory::desc md_flat(const Tensor& t) {
  return dnnl::memory::desc({t.numel()}, dnnl_dtype(t.dtype()), tag::a);
}

dnnl::memory mem(const dnnl::memory::desc& md, const Tensor& t) {
  return dnnl::memory(md, engine(), t.raw());
}

dnnl::memory scratch(int slot, const dnnl::memory::desc& md) {
  constexpr int kSlots = 4;
  struct Slot {
    AlignedBuffer buf;
    size_t bytes = 0;
  };
  thread_local Slot slots[kSlots];
  SDL_ASSERT(slot >= 0 && slot < kSlots, "scratch slot out of range");
  Slot& s = slots[slot];
  const size_t need = md.get_size();
  if (need > s.bytes) {
    s.buf.reset();
    s.buf = aligned_alloc_bytes(need);
    s.bytes = need;
  }
  return dnnl::memory(md, engine(), s.buf.get());
}

}  // namespace scaledl::cpu::dnnl_detail

namespace scaledl {

// The ops whose cpu kernels take bf16 tensors, when oneDNN has fast bf16 kernels for this CPU.
bool cpu_native_bf16(std::string_view op) {
  static const bool isa = [] {
    const dnnl::cpu_isa have = dnnl::get_effective_cpu_isa();
    return have == dnnl::cpu_isa::avx512_core_bf16 || have == dnnl::cpu_isa::avx512_core_amx;
  }();
  static constexpr std::string_view kOps[] = {"conv2d_forward",
                                              "conv2d_backward_data",
                                              "conv2d_backward_weights",
                                              "batchnorm_forward_train",
                                              "batchnorm_forward_inference",
                                              "batchnorm_backward",
                                              "batchnorm_relu_forward_train",
                                              "batchnorm_relu_backward",
                                              "relu_forward",
                                              "relu_backward",
                                              "add",
                                              "maxpool2d_forward",
                                              "maxpool2d_backward",
                                              "global_avgpool_forward",
                                              "global_avgpool_backward",
                                              "linear_forward",
                                              "linear_backward_data",
                                              "linear_backward_weights",
                                              "reorder",
                                              "concat_channels",
                                              "split_channels"};
  return isa && std::find(std::begin(kOps), std::end(kOps), op) != std::end(kOps);
}

}  // namespace scaledl
