// Shared plumbing of the oneDNN cpu backend: the engine and per-thread stream, memory
// descriptors for scaledl tensors, the primitive cache, argument checks, and the guard that
// turns dnnl::error into scaledl::Error naming the op.
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <bit>
#include <cstdint>
#include <memory>
#include <mutex>
#include <source_location>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>

#include "core/error.h"
#include "core/tensor.h"
#include "ops/checks.h"

namespace scaledl::cpu::dnnl_detail {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// The one cpu engine of the process.
const dnnl::engine& engine();
// A stream on that engine, one per calling thread.
dnnl::stream& stream();

dt dnnl_dtype(DType t);
tag layout_tag(Layout l);
// [N,C,H,W] in the tensor's own layout (nchw or nhwc).
dnnl::memory::desc md4(const Tensor& t);
// The tensor as a flat 1-D array of numel elements.
dnnl::memory::desc md_flat(const Tensor& t);
// A memory object over the tensor's own storage.
dnnl::memory mem(const dnnl::memory::desc& md, const Tensor& t);

// Per-thread scratch memory for primitives' own copies of weights and activations: slot `slot` of
// the calling thread, at least `md`'s size, reused (and grown) across calls. Valid until the next
// call with the same slot on this thread.
dnnl::memory scratch(int slot, const dnnl::memory::desc& md);

// Builds cache keys: key_of("conv_fwd", x.shape(), 3, true) -> "conv_fwd|[..]|3|1".
inline void key_part(std::string& k, const Shape& s) {
  k += shape_str(s);
}
inline void key_part(std::string& k, std::string_view s) {
  k += s;
}
inline void key_part(std::string& k, const char* s) {
  k += s;
}
inline void key_part(std::string& k, Layout l) {
  k += layout_name(l);
}
inline void key_part(std::string& k, DType t) {
  k += dtype_name(t);
}
inline void key_part(std::string& k, bool b) {
  k += b ? '1' : '0';
}
inline void key_part(std::string& k, float f) {
  k += std::to_string(std::bit_cast<uint32_t>(f));
}
template <class I>
requires std::is_integral_v<I>
inline void key_part(std::string& k, I i) {
  k += std::to_string(i);
}
template <class... A>
std::string key_of(const A&... a) {
  std::string k;
  k.reserve(96);
  ((key_part(k, a), k += '|'), ...);
  return k;
}

// Primitives (and what goes with them) built once per key and kept for the process.
// Entries are never moved or dropped, so references stay valid.
template <class Entry>
class PrimitiveCache {
 public:
  // The entry for `key`, made by make() (returning std::unique_ptr<Entry>) on first use.
  template <class Make>
  Entry& get(const std::string& key, Make&& make) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) return *it->second;
    auto e = make();
    Entry& ref = *e;
    map_.emplace(key, std::move(e));
    return ref;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Entry>> map_;
};

// Runs f; a dnnl::error inside becomes scaledl::Error naming the op and the call site.
template <class F>
void guarded(const char* op, F&& f, std::source_location loc = std::source_location::current()) {
  try {
    f();
  } catch (const dnnl::error& e) {
    throw_check_failure("oneDNN", op, e.what(), loc.file_name(), static_cast<int>(loc.line()));
  }
}

}  // namespace scaledl::cpu::dnnl_detail
