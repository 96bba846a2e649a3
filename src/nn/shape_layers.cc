// Parameter-free layers: ReLU, pooling, global average pooling, flatten, add, concat.
#include <string>

#include "core/error.h"
#include "nn/layers.h"
#include "ops/ops.h"

namespace scaledl {

void ReLU::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  if (pass_through_) {
    SDL_ASSERT(in[0].raw() == out.raw(), "a pass-through ReLU must share its input's storage");
    return;
  }
  ops::relu_forward(in[0], out);
}
void ReLU::backward(const RunContext&, const std::vector<Tensor>&, const Tensor& out,
                    const Tensor& dout, std::vector<Tensor>& din) {
  if (!din[0].defined()) return;
  if (!pass_through_)
    ops::relu_backward(out, dout, din[0]);
  else if (din[0].raw() != dout.raw())
    din[0].copy_from(dout);
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

void GlobalAvgPool::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  ops::global_avgpool_forward(in[0], out);
}
void GlobalAvgPool::backward(const RunContext&, const std::vector<Tensor>&, const Tensor&,
                             const Tensor& dout, std::vector<Tensor>& din) {
  if (din[0].defined()) ops::global_avgpool_backward(dout, din[0]);
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

void Add::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  ops::add(in[0], in[1], out);
}
void Add::backward(const RunContext&, const std::vector<Tensor>&, const Tensor&, const Tensor& dout,
                   std::vector<Tensor>& din) {
  for (Tensor& d : din)
    if (d.defined() && d.raw() != dout.raw()) ops::reorder(dout, d);
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
