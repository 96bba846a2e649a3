// The ceiling oneDNN puts on a ResNet-50 training step on this CPU: the 53 convolutions of
// ResNet-50 v1.5 (torchvision's), forward, backward data and backward weights, batch N, timed
// alone in oneDNN with no framework around them, f32 and bf16, with the activations in nhwc
// (as scaledl runs them) and in the layout oneDNN prefers (format any; the reorders into it
// are not counted), and with the backward passes of the 1x1 convolutions as matmuls over the
// pixel rows (as scaledl runs them on nhwc). Weights are in the primitive's own layout, so no
// reorder is timed.
// Every configuration runs once per round, alternating, and the medians are printed with the
// images/s the convolutions alone would allow, and the bf16/f32 ratio. Then the batch norms that
// follow the convolutions, on nhwc and on oneDNN's blocked nChw16c layout.
//
// Build and run: bench/conv_ceiling.sh (g++ -O2 ... -ldnnl; ROUNDS, BATCH, THREADS).
// Usage: onednn_conv_ceiling [batch] [rounds]
#include <dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

struct Conv {
  int ic, oc, ih, k, s;  // square input ih x ih, kernel k x k, stride s, padding k / 2
  int count;             // how many of this shape ResNet-50 has
  int oh() const { return (ih + 2 * (k / 2) - k) / s + 1; }
};

// ResNet-50 v1.5: conv1, then bottlenecks [3, 4, 6, 3] with the stride in the 3x3 conv and a
// strided 1x1 downsample in the first block of each stage.
std::vector<Conv> resnet50_convs() {
  std::vector<Conv> v{{3, 64, 224, 7, 2, 1}};
  const int blocks[4] = {3, 4, 6, 3}, planes[4] = {64, 128, 256, 512};
  int in = 64, size = 56;
  for (int st = 0; st < 4; ++st) {
    const int p = planes[st], stride = st == 0 ? 1 : 2;
    for (int b = 0; b < blocks[st]; ++b) {
      const int s = b == 0 ? stride : 1;
      v.push_back({in, p, size, 1, 1, 1});
      v.push_back({p, p, size, 3, s, 1});
      if (b == 0) v.push_back({in, 4 * p, size, 1, s, 1});  // downsample
      size = (size - 1) / s + 1;
      v.push_back({p, 4 * p, size, 1, 1, 1});
      in = 4 * p;
    }
  }
  return v;
}

struct Config {
  const char* name;
  dt act, diff_w;
  bool any_layout;
  bool matmul_1x1 = false;  // 1x1 backward passes as matmuls over the pixel rows (as scaledl)
};

struct Passes {
  double fwd = 0, bwd_data = 0, bwd_weights = 0;
  double sum() const { return fwd + bwd_data + bwd_weights; }
};

dnnl::engine& eng() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

memory zeros(const memory::desc& d) {
  memory m(d, eng());
  std::memset(m.get_data_handle(), 0, d.get_size());
  return m;
}

// Milliseconds per execution: one untimed run, then `reps` timed.
double time_ms(const dnnl::primitive& p, const std::unordered_map<int, memory>& args, int reps) {
  dnnl::stream s(eng());
  p.execute(s, args);
  s.wait();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) p.execute(s, args);
  s.wait();
  const std::chrono::duration<double, std::milli> dt = std::chrono::steady_clock::now() - t0;
  return dt.count() / reps;
}

// One configuration over all of ResNet-50's convolutions: milliseconds per step of `n` images.
Passes run(const Config& c, int n, int reps) {
  Passes t;
  for (const Conv& cv : resnet50_convs()) {
    const memory::dims src{n, cv.ic, cv.ih, cv.ih}, dst{n, cv.oc, cv.oh(), cv.oh()},
        wei{cv.oc, cv.ic, cv.k, cv.k}, strides{cv.s, cv.s}, dil{0, 0}, pad{cv.k / 2, cv.k / 2};
    const tag act_tag = c.any_layout ? tag::any : tag::acdb;
    const memory::desc src_md(src, c.act, act_tag), dst_md(dst, c.act, act_tag),
        w_md(wei, c.act, tag::any), dw_md(wei, c.diff_w, tag::any);
    const auto alg = dnnl::algorithm::convolution_direct;

    dnnl::convolution_forward::primitive_desc f(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, src_md, w_md,
                                        memory::desc(), dst_md, strides, dil, pad, pad),
        eng());
    t.fwd += cv.count * time_ms(dnnl::convolution_forward(f),
                                {{DNNL_ARG_SRC, zeros(f.src_desc())},
                                 {DNNL_ARG_WEIGHTS, zeros(f.weights_desc())},
                                 {DNNL_ARG_DST, zeros(f.dst_desc())}},
                                reps);
    if (c.matmul_1x1 && cv.k == 1) {
      // dX[K,C] = dY[K,O] W[O,C] and dW[O,C] = dY^T X over the K = N*OH*OW pixels the
      // convolution reads (a strided one also gathers and scatters those rows: not timed).
      const int64_t K = int64_t{n} * cv.oh() * cv.oh();
      const auto product = [&](memory::desc a, memory::desc b, memory::desc c) {
        dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), eng());
        return time_ms(
            dnnl::matmul(pd),
            {{DNNL_ARG_SRC, zeros(a)}, {DNNL_ARG_WEIGHTS, zeros(b)}, {DNNL_ARG_DST, zeros(c)}},
            reps);
      };
      t.bwd_data += cv.count * product(memory::desc({K, cv.oc}, c.act, tag::ab),
                                       memory::desc({cv.oc, cv.ic}, c.act, tag::ab),
                                       memory::desc({K, cv.ic}, c.act, tag::ab));
      t.bwd_weights += cv.count * product(memory::desc({cv.oc, K}, c.act, tag::ba),
                                          memory::desc({K, cv.ic}, c.act, tag::ab),
                                          memory::desc({cv.oc, cv.ic}, c.diff_w, tag::ab));
      continue;
    }
    if (cv.ic != 3) {  // the image needs no gradient
      dnnl::convolution_backward_data::primitive_desc d(
          dnnl::convolution_backward_data::desc(alg, src_md, w_md, dst_md, strides, dil, pad, pad),
          eng(), f);
      t.bwd_data += cv.count * time_ms(dnnl::convolution_backward_data(d),
                                       {{DNNL_ARG_DIFF_DST, zeros(d.diff_dst_desc())},
                                        {DNNL_ARG_WEIGHTS, zeros(d.weights_desc())},
                                        {DNNL_ARG_DIFF_SRC, zeros(d.diff_src_desc())}},
                                       reps);
    }
    dnnl::convolution_backward_weights::primitive_desc w(
        dnnl::convolution_backward_weights::desc(alg, src_md, dw_md, memory::desc(), dst_md,
                                                 strides, dil, pad, pad),
        eng(), f);
    t.bwd_weights += cv.count * time_ms(dnnl::convolution_backward_weights(w),
                                        {{DNNL_ARG_SRC, zeros(w.src_desc())},
                                         {DNNL_ARG_DIFF_DST, zeros(w.diff_dst_desc())},
                                         {DNNL_ARG_DIFF_WEIGHTS, zeros(w.diff_weights_desc())}},
                                        reps);
  }
  return t;
}

// Batch norm (training forward and backward, scale and shift) after each of the convolutions,
// over their outputs in `layout`: milliseconds per step of `n` images, {forward, backward}.
std::pair<double, double> run_bn(dt d, tag layout, int n, int reps) {
  double fwd = 0, bwd = 0;
  for (const Conv& cv : resnet50_convs()) {
    const memory::desc x({n, cv.oc, cv.oh(), cv.oh()}, d, layout), c({cv.oc}, dt::f32, tag::a);
    const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
    dnnl::batch_normalization_forward::primitive_desc f(
        dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_training, x, 1e-5f, flags),
        eng());
    const memory src = zeros(x), dst = zeros(x), scale = zeros(c), shift = zeros(c),
                 mean = zeros(c), var = zeros(c);
    fwd += cv.count * time_ms(dnnl::batch_normalization_forward(f),
                              {{DNNL_ARG_SRC, src},
                               {DNNL_ARG_DST, dst},
                               {DNNL_ARG_SCALE, scale},
                               {DNNL_ARG_SHIFT, shift},
                               {DNNL_ARG_MEAN, mean},
                               {DNNL_ARG_VARIANCE, var}},
                              reps);
    dnnl::batch_normalization_backward::primitive_desc b(
        dnnl::batch_normalization_backward::desc(dnnl::prop_kind::backward, x, x, 1e-5f, flags),
        eng(), f);
    bwd += cv.count * time_ms(dnnl::batch_normalization_backward(b),
                              {{DNNL_ARG_SRC, src},
                               {DNNL_ARG_DIFF_DST, dst},
                               {DNNL_ARG_DIFF_SRC, zeros(x)},
                               {DNNL_ARG_SCALE, scale},
                               {DNNL_ARG_SHIFT, shift},
                               {DNNL_ARG_MEAN, mean},
                               {DNNL_ARG_VARIANCE, var},
                               {DNNL_ARG_DIFF_SCALE, zeros(c)},
                               {DNNL_ARG_DIFF_SHIFT, zeros(c)}},
                              reps);
  }
  return {fwd, bwd};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 16;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  if (n < 1 || rounds < 1) {
    std::fprintf(stderr, "usage: onednn_conv_ceiling [batch >= 1] [rounds >= 1]\n");
    return 2;
  }
  int count = 0;
  for (const Conv& c : resnet50_convs()) count += c.count;
  const std::vector<Config> configs{
      {"f32 nhwc", dt::f32, dt::f32, false},
      {"f32 any", dt::f32, dt::f32, true},
      {"f32 nhwc, 1x1 matmul", dt::f32, dt::f32, false, true},
      {"bf16 nhwc, bf16 dW", dt::bf16, dt::bf16, false},
      {"bf16 nhwc, f32 dW", dt::bf16, dt::f32, false},
      {"bf16 any, f32 dW", dt::bf16, dt::f32, true},
      {"bf16 nhwc, 1x1 matmul", dt::bf16, dt::bf16, false, true},
  };
  std::printf("ResNet-50's %d convolutions, batch %d, %d rounds, oneDNN %d.%d.%d\n", count, n,
              rounds, dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch);
  std::vector<std::vector<Passes>> got(configs.size());
  for (int r = 0; r < rounds; ++r)
    for (size_t i = 0; i < configs.size(); ++i) {
      got[i].push_back(run(configs[i], n, 3));
      std::fprintf(stderr, "round %d/%d %-20s %.1f ms\n", r + 1, rounds, configs[i].name,
                   got[i].back().sum());
    }
  std::printf("%-20s %9s %9s %9s %9s %9s\n", "config", "fwd ms", "bwd_d ms", "bwd_w ms", "total ms",
              "images/s");
  std::vector<double> total(configs.size());
  for (size_t i = 0; i < configs.size(); ++i) {
    std::vector<double> f, d, w, s;
    for (const Passes& p : got[i]) {
      f.push_back(p.fwd);
      d.push_back(p.bwd_data);
      w.push_back(p.bwd_weights);
      s.push_back(p.sum());
    }
    total[i] = median(s);
    std::printf("%-20s %9.1f %9.1f %9.1f %9.1f %9.2f\n", configs[i].name, median(f), median(d),
                median(w), total[i], 1000.0 * n / total[i]);
  }
  // The ratio scaledl's step can hope for from its convolutions: the fastest way of each dtype
  // on nhwc activations, as scaledl runs them.
  size_t f32 = 0, bf16 = 0;
  for (size_t i = 0; i < configs.size(); ++i) {
    if (configs[i].any_layout) continue;
    size_t& best = configs[i].act == dt::f32 ? f32 : bf16;
    if (configs[best].act != configs[i].act || total[i] < total[best]) best = i;
  }
  std::printf("conv_ceiling_bf16_over_f32: %.2f (%s %.1f ms / %s %.1f ms)\n",
              total[f32] / total[bf16], configs[f32].name, total[f32], configs[bf16].name,
              total[bf16]);
  // Batch norm, which follows every convolution: memory-bound, and oneDNN 2.6 runs it much
  // faster on its blocked layout than on nhwc.
  std::printf("\nbatch norm after each convolution (training forward + backward), medians\n");
  std::printf("%-20s %9s %9s %9s\n", "config", "fwd ms", "bwd ms", "total ms");
  const struct {
    const char* name;
    dt d;
    tag layout;
  } bns[] = {{"f32 nhwc", dt::f32, tag::acdb},
             {"f32 nChw16c", dt::f32, tag::aBcd16b},
             {"bf16 nhwc", dt::bf16, tag::acdb},
             {"bf16 nChw16c", dt::bf16, tag::aBcd16b}};
  for (const auto& bn : bns) {
    std::vector<double> f, b, t;
    for (int r = 0; r < rounds; ++r) {
      const auto [fwd, bwd] = run_bn(bn.d, bn.layout, n, 3);
      f.push_back(fwd);
      b.push_back(bwd);
      t.push_back(fwd + bwd);
    }
    std::printf("%-20s %9.1f %9.1f %9.1f\n", bn.name, median(f), median(b), median(t));
  }
  return 0;
}
