// Calibration: histograms of every tensor over the calibration inputs, thresholds from them.
#include "infer/calibration.h"

#include <cstdio>
#include <cstring>
#include <map>

#include "core/error.h"
#include "infer/passes/passes.h"
#include "infer/plan.h"

namespace scaledl::infer {

namespace {
// FNV-1a, 64 bits.
struct Hasher {
  uint64_t h = 1469598103934665603ull;
  void bytes(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
  void str(const std::string& s) { bytes(s.data(), s.size() + 1); }
  template <class T>
  void pod(const T& v) {
    bytes(&v, sizeof v);
  }
};
// The threshold of one tensor. Entropy: the zero bin counts as much as its neighbour (a ReLU's
// spike of zeros otherwise makes every wide quantization group look bad, and the KL minimum
// clips far too much), and an unsigned tensor (u8) has 256 levels, a signed one 128 per side.
float threshold(const AbsHistogram& h, const CalibOptions& o, bool is_unsigned) {
  if (o.method != CalibMethod::entropy || h.count() == 0)
    return calib_threshold(h, o.method, o.percentile);
  std::vector<int64_t> bins = h.bins();
  bins[0] = bins[1];
  const AbsHistogram flat = AbsHistogram::from_counts(bins, h.bin_width(), h.max_abs());
  return entropy_threshold(flat, is_unsigned ? 256 : 128);
}
}  // namespace

std::string model_hash(const Graph& g) {
  Hasher h;
  h.str(g.name());
  for (const Node& n : g.nodes()) {
    h.str(n.name);
    h.pod(n.kind);
    for (int i : n.inputs) h.pod(i);
    for (int64_t d : n.shape) h.pod(d);
    for (const auto& [name, t] : n.values) {
      h.str(name);
      h.bytes(t.raw(), t.nbytes());
    }
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h.h));
  return out;
}

CalibCache calibrate(const Graph& g, const BatchSource& next, const CalibOptions& options) {
  EngineOptions eo;
  eo.max_batch = options.batch;
  Engine fp32(g, eo);
  std::map<std::string, AbsHistogram> hist;
  CalibCache cache;
  Tensor x;
  while (next(x)) {
    hist["input"].add(x.data<float>(), x.numel());
    fp32.run_observed(x, [&](const std::string& node, const Tensor& v) {
      hist[node].add(v.data<float>(), v.numel());
    });
    cache.images += x.dim(0);
  }
  if (cache.images == 0) throw Error("calibration", options.source + " gave no calibration input");
  cache.model = g.name();
  cache.model_hash = model_hash(g);
  cache.method = options.method;
  cache.percentile = options.percentile;
  cache.source = options.source;
  std::map<std::string, bool> unsigned_tensor{{"input", false}};
  for (int i = 1; i < fp32.graph().size(); ++i)
    unsigned_tensor[fp32.graph().node(i).name] = nonnegative(fp32.graph(), i);
  // The network's input is never clipped: its values are data, not a layer's heavy tail, and a
  // spiky input (a constant background) fools the KL search into clipping every bright pixel.
  for (const auto& [name, h] : hist)
    cache.tensors[name] = {
        name == "input" ? max_threshold(h) : threshold(h, options, unsigned_tensor[name]),
        h.max_abs()};
  return cache;
}

std::vector<std::string> tensor_names(const Graph& g) {
  return calibration_tensors(passes::optimize_for_inference(g));
}

Thresholds thresholds_of(const CalibCache& cache) {
  Thresholds t;
  for (const auto& [name, c] : cache.tensors) t[name] = c.threshold > 0.f ? c.threshold : 1.f;
  return t;
}

}  // namespace scaledl::infer
