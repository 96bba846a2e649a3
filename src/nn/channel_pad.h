// ChannelPad: appends zero channels, [C,H,W] -> [C + extra, H, W]. With a stride-2 1x1 average
// pool in front it is the parameter-free "option A" shortcut of CIFAR ResNets (He et al. 2016).
#pragma once
#include "nn/layer.h"

namespace scaledl {

class ChannelPad : public Layer {
 public:
  explicit ChannelPad(int extra);
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;

 private:
  int extra_;
  Tensor zeros_;    // [N, extra, H, W], the padding concatenated in forward
  Tensor discard_;  // backward's sink for the padding's (unused) gradient
};

}  // namespace scaledl
