// Layer base: binding of parameter views; the factory from graph nodes.
#include "nn/layer.h"

#include <string>

#include "core/error.h"
#include "nn/channel_pad.h"
#include "nn/layers.h"

namespace scaledl {

void Layer::bind(std::vector<Tensor> params, std::vector<Tensor> grads,
                 std::vector<Tensor> buffers) {
  params_ = std::move(params);
  grads_ = std::move(grads);
  buffers_ = std::move(buffers);
}

std::unique_ptr<Layer> make_layer(const Node& n) {
  switch (n.kind) {
    case OpKind::conv2d: {
      const ConvAttrs& a = n.as<ConvAttrs>();
      return std::make_unique<Conv2d>(a.p, a.bias, a.fused);
    }
    case OpKind::linear: {
      const LinearAttrs& a = n.as<LinearAttrs>();
      return std::make_unique<Linear>(a.bias, a.fused);
    }
    case OpKind::batchnorm2d:
      return std::make_unique<BatchNorm2d>(n.as<BatchNormAttrs>().p, n.shape.at(0));
    case OpKind::relu:
      return std::make_unique<ReLU>();
    case OpKind::maxpool2d:
      return std::make_unique<Pool2d>(Pool2d::Mode::max, n.as<PoolAttrs>().p);
    case OpKind::avgpool2d:
      return std::make_unique<Pool2d>(Pool2d::Mode::avg, n.as<PoolAttrs>().p);
    case OpKind::global_avgpool:
      return std::make_unique<GlobalAvgPool>();
    case OpKind::flatten:
      return std::make_unique<Flatten>();
    case OpKind::add:
      return std::make_unique<Add>();
    case OpKind::dropout:
      return std::make_unique<Dropout>(n.as<DropoutAttrs>().p);
    case OpKind::identity:
      return std::make_unique<Dropout>(0.f);
    case OpKind::concat:
      return std::make_unique<Concat>();
    case OpKind::channel_pad:
      return std::make_unique<ChannelPad>(n.as<ChannelPadAttrs>().extra);
    case OpKind::clip:
    case OpKind::softmax:
    case OpKind::lrn:
      throw Error("net", "node " + n.name + " (" + std::string(op_kind_name(n.kind)) +
                             "): an inference-only node; training cannot run it");
    case OpKind::input:
      break;
  }
  throw Error("net", "node " + n.name + " is the graph's input, not a layer");
}

}  // namespace scaledl
