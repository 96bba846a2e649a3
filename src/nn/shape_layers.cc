// Parameter-free layers: ReLU, pooling, global average pooling, flatten, add, concat.
#include <string>

#include "core/error.h"
#include "nn/layers.h"
#include "ops/ops.h"

namespace scaledl {

namespace {
void need_chw(std::string_view kind, const std::vector<Shape>& in) {
  if (in.size() != 1 || in[0].size() != 3)
    throw Error(kind, "needs one [C,H,W] input, got " + shape_str(in.at(0)));
}
}  // namespace

Shape ReLU::infer(const std::vector<Shape>& in) { return in.at(0); }
void ReLU::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  ops::relu_forward(in[0], out);
}
void ReLU::backward(const RunContext&, const std::vector<Tensor>&, const Tensor& out,
                    const Tensor& dout, std::vector<Tensor>& din) {
  if (din[0].defined()) ops::relu_backward(out, dout, din[0]);
}

Pool2d::Pool2d(Mode mode, Pool2dParams p) : mode_(mode), p_(p) {}

Shape Pool2d::infer(const std::vector<Shape>& in) {
  need_chw(kind(), in);
  int64_t oh = pool_out_size(in[0][1], p_.kernel_h, p_.stride_h, p_.pad_h, p_.ceil_mode);
  int64_t ow = pool_out_size(in[0][2], p_.kernel_w, p_.stride_w, p_.pad_w, p_.ceil_mode);
  if (oh <= 0 || ow <= 0)
    throw Error(kind(), "input " + shape_str(in[0]) + " is too small for this pooling window");
  return {in[0][0], oh, ow};
}

int64_t Pool2d::flops(const std::vector<Shape>&, const Shape& out) const {
  return shape_numel(out) * p_.kernel_h * p_.kernel_w;
}

void Pool2d::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  if (mode_ == Mode::max)
    ops::maxpool2d_forward(p_, in[0], out, workspace_);
  else
    ops::avgpool2d_forward(p_, in[0], out);
}

void Pool2d::backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                      const Tensor& dout, std::vector<Tensor>& din) {
  if (!din[0].defined()) return;
  if (mode_ == Mode::max)
    ops::maxpool2d_backward(p_, in[0], out, workspace_, dout, din[0]);
  else
    ops::avgpool2d_backward(p_, dout, din[0]);
}

Shape GlobalAvgPool::infer(const std::vector<Shape>& in) {
  need_chw(kind(), in);
  return {in[0][0]};
}
int64_t GlobalAvgPool::flops(const std::vector<Shape>& in, const Shape&) const {
  return shape_numel(in[0]);
}
void GlobalAvgPool::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  ops::global_avgpool_forward(in[0], out);
}
void GlobalAvgPool::backward(const RunContext&, const std::vector<Tensor>&, const Tensor&,
                             const Tensor& dout, std::vector<Tensor>& din) {
  if (din[0].defined()) ops::global_avgpool_backward(dout, din[0]);
}

Shape Flatten::infer(const std::vector<Shape>& in) {
  need_chw(kind(), in);
  return {shape_numel(in[0])};
}

void Flatten::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  const Tensor& x = in[0];
  if (x.layout() == Layout::nchw) {
    out.copy_from(x);
    return;
  }
  Tensor as4d = out.reshape(x.shape()).with_layout(Layout::nchw);
  ops::reorder(x, as4d);
}

void Flatten::backward(const RunContext&, const std::vector<Tensor>& in, const Tensor&,
                       const Tensor& dout, std::vector<Tensor>& din) {
  if (!din[0].defined()) return;
  if (in[0].layout() == Layout::nchw) {
    din[0].copy_from(dout);
    return;
  }
  Tensor as4d = dout.reshape(in[0].shape()).with_layout(Layout::nchw);
  ops::reorder(as4d, din[0]);
}

Shape Add::infer(const std::vector<Shape>& in) {
  if (in.size() != 2 || in[0] != in[1])
    throw Error("add", "needs two inputs of one shape, got " + shape_str(in.at(0)) + " and " +
                           shape_str(in.at(in.size() > 1 ? 1 : 0)));
  return in[0];
}
int64_t Add::flops(const std::vector<Shape>& in, const Shape&) const { return shape_numel(in[0]); }
void Add::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  ops::add(in[0], in[1], out);
}
void Add::backward(const RunContext&, const std::vector<Tensor>&, const Tensor&,
                   const Tensor& dout, std::vector<Tensor>& din) {
  for (Tensor& d : din)
    if (d.defined() && d.raw() != dout.raw()) ops::reorder(dout, d);
}

Shape Concat::infer(const std::vector<Shape>& in) {
  if (in.empty()) throw Error("concat", "needs at least one input");
  Shape out = in[0];
  if (out.size() != 3) throw Error("concat", "needs [C,H,W] inputs, got " + shape_str(out));
  for (size_t i = 1; i < in.size(); ++i) {
    if (in[i].size() != 3 || in[i][1] != out[1] || in[i][2] != out[2])
      throw Error("concat", "input " + std::to_string(i) + " " + shape_str(in[i]) +
                                " does not match " + shape_str(in[0]) + " in H, W");
    out[0] += in[i][0];
  }
  return out;
}

void Concat::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  ops::concat_channels(in, out);
}

void Concat::backward(const RunContext&, const std::vector<Tensor>& in, const Tensor&,
                      const Tensor& dout, std::vector<Tensor>& din) {
  std::vector<Tensor> parts = din;
  for (size_t i = 0; i < parts.size(); ++i)
    if (!parts[i].defined())
      parts[i] = Tensor::empty(in[i].shape(), in[i].dtype(), in[i].device(), in[i].layout());
  ops::split_channels(dout, parts);
}

}  // namespace scaledl
