// ChannelPad: forward is a channel concatenation with a zero tensor, backward its split.
#include "nn/channel_pad.h"

#include <string>

#include "core/error.h"
#include "ops/ops.h"

namespace scaledl {

namespace {
// A tensor like `like` but with `channels` channels, reused while the shape and layout hold.
void ensure(Tensor& t, const Tensor& like, int64_t channels, bool zero) {
  Shape s{like.dim(0), channels, like.dim(2), like.dim(3)};
  if (t.defined() && t.shape() == s && t.layout() == like.layout() && t.device() == like.device() &&
      t.dtype() == like.dtype())
    return;
  t = zero ? Tensor::zeros(s, like.dtype(), like.device(), like.layout())
           : Tensor::empty(s, like.dtype(), like.device(), like.layout());
}
}  // namespace

ChannelPad::ChannelPad(int extra) : extra_(extra) {}

void ChannelPad::forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) {
  ensure(zeros_, out, extra_, true);
  ops::concat_channels({in[0], zeros_}, out);
}

void ChannelPad::backward(const RunContext&, const std::vector<Tensor>&, const Tensor&,
                          const Tensor& dout, std::vector<Tensor>& din) {
  if (!din[0].defined()) return;
  ensure(discard_, dout, extra_, false);
  std::vector<Tensor> parts{din[0], discard_};
  ops::split_channels(dout, parts);
}

}  // namespace scaledl
