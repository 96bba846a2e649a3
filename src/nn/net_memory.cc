// Net::share_gradients and Net::place_gradients: where the activation gradients live during
// backward.
//
// backward() visits nodes from the output down. Node j's gradient is first written by the
// backward of its highest-numbered consumer that reaches the loss and last read by j's own
// backward; only between those two does it need memory. A sharing input (share_gradients: a
// residual sum's inputs, a pass-through ReLU's) takes its consumer's gradient buffer instead of
// its own, which then lives until the last such input's backward; a node with several consumers
// also needs a scratch buffer at each later consumer's backward, which writes there and adds into
// the gradient. The walk below mirrors backward() step for step, and the buffers then share one
// arena (core/memory_plan.h); at a backward step every buffer read or written there is live, so
// none of them share bytes.
#include <algorithm>

#include "core/error.h"
#include "core/memory_plan.h"
#include "nn/net.h"

namespace scaledl {

// Which inputs take their consumer's gradient buffer as their own: those whose gradient is the
// output's (Layer::passes_gradient; a residual sum's inputs, a pass-through ReLU's), of which
// node i is the last consumer (the buffer is then final when handed on). After i, the input's
// other consumers add their gradients into the buffer as backward reaches them; every other input
// sharing it must have read it before, so each such consumer must come earlier in the graph
// than (be visited after) every other sharer. In a ResNet block both inputs of the sum share:
// the shortcut's other consumer, the branch's first convolution, comes before the branch's last
// batch norm.
void Net::share_gradients() {
  const int n = static_cast<int>(nodes_.size());
  const std::vector<std::vector<int>> consumers = graph_.readers();
  // Every consumer of s but i comes before node t.
  auto others_before = [&](int s, int i, int t) {
    for (int c : consumers[s])
      if (c != i && c > t) return false;
    return true;
  };
  shares_grad_.assign(n, {});
  for (int i = 1; i < n; ++i) {
    const std::vector<int>& inputs = graph_.node(i).inputs;
    shares_grad_[i].assign(inputs.size(), false);
    std::vector<int> sharers;
    for (size_t k = 0; k < inputs.size(); ++k) {
      const int j = inputs[k];
      if (j == 0 || !nodes_[i].layer->passes_gradient(static_cast<int>(k)) ||
          consumers[j].back() != i || std::count(sharers.begin(), sharers.end(), j) > 0)
        continue;
      const bool safe = std::all_of(sharers.begin(), sharers.end(), [&](int s) {
        return others_before(j, i, s) && others_before(s, i, j);
      });
      if (!safe) continue;
      sharers.push_back(j);
      shares_grad_[i][k] = true;
    }
  }
}

void Net::place_gradients(const std::vector<Shape>& shapes) {
  const int n = static_cast<int>(nodes_.size());
  grad_arena_ = Tensor();
  for (NodeState& s : nodes_) s.own_grad = s.grad = s.scratch = Tensor();
  auto bytes = [&](int i) {
    return shape_numel(shapes[i]) * static_cast<int64_t>(dtype_size(compute_));
  };
  for (int i = 1; i < n; ++i)
    memory_.gradient_bytes_unplanned += bytes(i) * (nodes_[i].consumers > 1 ? 2 : 1);
  if (!plan_memory_) {
    for (int i = 1; i < n; ++i) {
      NodeState& s = nodes_[i];
      s.own_grad = s.grad = Tensor::empty(shapes[i], compute_, device_, layout_);
      if (s.consumers > 1) s.scratch = Tensor::empty(shapes[i], compute_, device_, layout_);
    }
    memory_.gradient_bytes = memory_.gradient_bytes_unplanned;
    return;
  }
  // Steps count backward's visits: node i is visited at step output_ - i.
  auto step = [&](int i) { return output_ - i; };
  std::vector<bool> written(n, false);
  std::vector<int> owner(n, -1);  // the node whose own buffer holds node j's gradient
  std::vector<BufferLife> grad(n), scratch(n);
  std::vector<bool> has_scratch(n, false);
  written[output_] = true;
  owner[output_] = output_;
  grad[output_] = {bytes(output_), 0, 0};
  for (int i = output_; i >= 1; --i) {
    if (!written[i]) continue;
    const int o = owner[i];
    grad[o].last = std::max(grad[o].last, step(i));
    const std::vector<int>& inputs = graph_.node(i).inputs;
    for (size_t k = 0; k < inputs.size(); ++k) {
      const int j = inputs[k];
      if (j == 0) continue;
      if (written[j]) {
        if (!has_scratch[j]) scratch[j] = {bytes(j), step(i), step(i)};
        has_scratch[j] = true;
        scratch[j].last = step(i);
      } else if (shares_grad_[i][k]) {
        owner[j] = o;
      } else {
        owner[j] = j;
        grad[j] = {bytes(j), step(i), step(i)};
      }
    }
    for (int j : inputs)
      if (j != 0) written[j] = true;
  }
  std::vector<BufferLife> lives;
  std::vector<std::pair<int, bool>> what;  // (node, is scratch) per entry of lives
  for (int j = 1; j < n; ++j) {
    if (owner[j] == j) lives.push_back(grad[j]), what.emplace_back(j, false);
    if (has_scratch[j]) lives.push_back(scratch[j]), what.emplace_back(j, true);
  }
  const MemoryPlan plan = plan_memory(lives);
  const int64_t esize = static_cast<int64_t>(dtype_size(compute_));
  SDL_ASSERT(plan.arena_bytes % esize == 0, "gradient arena not a whole number of elements");
  if (plan.arena_bytes > 0)
    grad_arena_ = Tensor::empty({plan.arena_bytes / esize}, compute_, device_);
  memory_.gradient_bytes = plan.arena_bytes;
  for (size_t b = 0; b < lives.size(); ++b) {
    const auto [j, is_scratch] = what[b];
    Tensor v = grad_arena_.view(shapes[j], plan.offsets[b] / esize);
    if (shapes[j].size() == 4) v = v.with_layout(layout_);
    (is_scratch ? nodes_[j].scratch : nodes_[j].own_grad) = v;
  }
  for (NodeState& s : nodes_) s.grad = s.own_grad;
}

}  // namespace scaledl
