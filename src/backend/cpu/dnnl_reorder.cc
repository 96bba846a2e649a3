// Data movement on oneDNN: layout reorder (nchw <-> nhwc or plain copy), channel concat
// (concat primitive) and channel split (reorders out of sub-memory views of y). Shapes, layouts
// and dtypes are validated before dispatch (ops/validate.cc).
#include <vector>

#include "backend/cpu/dnnl_common.h"
#include "ops/ops.h"

namespace scaledl::cpu {

using namespace dnnl_detail;
using dnnl::memory;

namespace {

struct MoveEntry {
  std::vector<dnnl::primitive> prims;
  std::vector<memory::desc> src_mds, dst_mds;
};

PrimitiveCache<MoveEntry>& cache() {
  static PrimitiveCache<MoveEntry> c;
  return c;
}

std::string parts_key(const char* op, const std::vector<Tensor>& xs, const Tensor& y) {
  std::string k = key_of(op, y.shape(), y.layout(), y.dtype());
  for (const Tensor& x : xs) k += std::to_string(x.dim(1)) + ',';
  return k;
}

}  // namespace

void reorder(const Tensor& x, Tensor& y) {
  constexpr const char* op = "reorder";
  if (x.numel() == 0) return;
  const bool permute = x.ndim() == 4 && x.layout() != y.layout();
  guarded(op, [&] {
    MoveEntry& e =
        cache().get(key_of("reorder", x.shape(), x.dtype(), x.layout(), y.layout()), [&] {
          auto e = std::make_unique<MoveEntry>();
          e->src_mds = {permute ? md4(x) : md_flat(x)};
          e->dst_mds = {permute ? md4(y) : md_flat(y)};
          e->prims.push_back(dnnl::reorder(
              dnnl::reorder::primitive_desc(engine(), e->src_mds[0], engine(), e->dst_mds[0])));
          return e;
        });
    dnnl::stream& s = stream();
    e.prims[0].execute(
        s, {{DNNL_ARG_FROM, mem(e.src_mds[0], x)}, {DNNL_ARG_TO, mem(e.dst_mds[0], y)}});
    s.wait();
  });
}

void concat_channels(const std::vector<Tensor>& xs, Tensor& y) {
  constexpr const char* op = "concat_channels";
  require_float(op, "y", y);
  guarded(op, [&] {
    MoveEntry& e = cache().get(parts_key("concat", xs, y), [&] {
      auto e = std::make_unique<MoveEntry>();
      for (const Tensor& x : xs) e->src_mds.push_back(md4(x));
      e->dst_mds = {md4(y)};
      e->prims.push_back(
          dnnl::concat(dnnl::concat::primitive_desc(e->dst_mds[0], 1, e->src_mds, engine())));
      return e;
    });
    std::unordered_map<int, memory> args{{DNNL_ARG_DST, mem(e.dst_mds[0], y)}};
    for (size_t i = 0; i < xs.size(); ++i)
      args.emplace(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), mem(e.src_mds[i], xs[i]));
    dnnl::stream& s = stream();
    e.prims[0].execute(s, args);
    s.wait();
  });
}

void split_channels(const Tensor& y, std::vector<Tensor>& xs) {
  constexpr const char* op = "split_channels";
  require_float(op, "y", y);
  guarded(op, [&] {
    MoveEntry& e = cache().get(parts_key("split", xs, y), [&] {
      auto e = std::make_unique<MoveEntry>();
      const memory::desc y_md = md4(y);
      int64_t c0 = 0;
      for (const Tensor& x : xs) {
        const memory::dims dims = {x.dim(0), x.dim(1), x.dim(2), x.dim(3)};
        e->src_mds.push_back(y_md.submemory_desc(dims, {0, c0, 0, 0}));
        e->dst_mds.push_back(md4(x));
        e->prims.push_back(dnnl::reorder(dnnl::reorder::primitive_desc(
            engine(), e->src_mds.back(), engine(), e->dst_mds.back())));
        c0 += x.dim(1);
      }
      return e;
    });
    dnnl::stream& s = stream();
    for (size_t i = 0; i < xs.size(); ++i)
      e.prims[i].execute(
          s, {{DNNL_ARG_FROM, mem(e.src_mds[i], y)}, {DNNL_ARG_TO, mem(e.dst_mds[i], xs[i])}});
    s.wait();
  });
}

}  // namespace scaledl::cpu
