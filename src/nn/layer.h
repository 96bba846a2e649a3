// Layer: how the training executor runs one kind of graph node, forward and backward, through
// the ops. What the node is (attributes, shapes, parameter specs) lives in the Graph; the Net
// owns parameter memory in flat buffers and binds views in the node's spec order.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.h"
#include "graph/graph.h"

namespace scaledl {

// What a forward/backward call needs to know beyond its tensors.
struct RunContext {
  bool training = true;
  uint64_t seed = 0;  // with step and node, seeds dropout masks
  int64_t step = 0;
  int node = 0;
};

class Layer {
 public:
  virtual ~Layer() = default;
  // Called by the Net after allocation: views in the node's spec order.
  void bind(std::vector<Tensor> params, std::vector<Tensor> grads, std::vector<Tensor> buffers);
  virtual void forward(const RunContext& ctx, const std::vector<Tensor>& in, Tensor& out) = 0;
  // True when input i's gradient is exactly the output's (a residual add): the Net may then hand
  // backward din[i] sharing dout's storage (where that is safe, Net::share_gradients), and
  // backward leaves it as it is.
  virtual bool passes_gradient(int /*input*/) const { return false; }
  // False when backward never reads `out`: the Net may then let a ReLU that is this node's only
  // consumer overwrite the output in place (its backward reads only its own output).
  virtual bool reads_output_in_backward() const { return true; }
  // Writes (not accumulates) din[i] for each defined din[i] and the parameter gradients.
  virtual void backward(const RunContext& ctx, const std::vector<Tensor>& in, const Tensor& out,
                        const Tensor& dout, std::vector<Tensor>& din) = 0;

 protected:
  std::vector<Tensor> params_, grads_, buffers_;
};

// The layer that runs graph node `n` (any kind but input).
std::unique_ptr<Layer> make_layer(const Node& n);

}  // namespace scaledl
