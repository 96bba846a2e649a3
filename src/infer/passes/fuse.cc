// Structural passes: dropping no-op nodes and fusing residual adds and ReLUs into the producer.
#include "graph/graph.h"
#include "infer/passes/passes.h"

namespace scaledl::passes {

namespace {
Fused* fused_of(Node& n) {
  if (n.kind == OpKind::conv2d) return &n.as<ConvAttrs>().fused;
  if (n.kind == OpKind::linear) return &n.as<LinearAttrs>().fused;
  return nullptr;
}
}  // namespace

void rewire(Graph& g, int from, int to) {
  for (Node& n : g.nodes())
    for (int& j : n.inputs)
      if (j == from) j = to;
  if (g.output() == from) g.set_output(to);
}

Graph drop_dropout(Graph g) {
  for (int i = 1; i < g.size(); ++i) {
    const Node& n = g.node(i);
    if (n.kind != OpKind::dropout && n.kind != OpKind::identity) continue;
    Node& in = g.node(n.inputs.at(0));
    if (in.threshold <= 0.f) in.threshold = n.threshold;
    rewire(g, i, n.inputs.at(0));
  }
  g.prune();
  return g;
}

Graph fuse_residual_add(Graph g) {
  const std::vector<int> readers = g.consumers();
  for (int i = 1; i < g.size(); ++i) {
    if (g.node(i).kind != OpKind::add) continue;
    for (int k = 0; k < 2; ++k) {
      const int c = g.node(i).inputs[k];
      Node& conv = g.node(c);
      if (conv.kind != OpKind::conv2d || readers[c] != 1) continue;
      const Fused f = conv.as<ConvAttrs>().fused;
      if (f.sum || f.relu) continue;
      // The add becomes the convolution (at the add's place, where the residual is ready).
      Node fused = conv;
      fused.as<ConvAttrs>().fused.sum = true;
      fused.threshold = g.node(i).threshold;
      fused.inputs = {conv.inputs.at(0), g.node(i).inputs[1 - k]};
      g.node(i) = std::move(fused);
      rewire(g, c, i);  // nobody reads c any more; keeps the graph well formed
      break;
    }
  }
  g.prune();
  return g;
}

Graph fuse_relu(Graph g) {
  const std::vector<int> readers = g.consumers();
  for (int i = 1; i < g.size(); ++i) {
    const Node& r = g.node(i);
    const bool relu6 =
        r.kind == OpKind::clip && r.as<ClipAttrs>().lo == 0.f && r.as<ClipAttrs>().hi > 0.f;
    if (r.kind != OpKind::relu && !relu6) continue;
    const int p = r.inputs.at(0);
    Fused* f = fused_of(g.node(p));
    if (!f || f->relu || readers[p] != 1) continue;
    f->relu = true;
    if (relu6) f->relu_cap = r.as<ClipAttrs>().hi;
    if (r.threshold > 0.f) g.node(p).threshold = r.threshold;
    rewire(g, i, p);
  }
  g.prune();
  return g;
}

Graph optimize_for_inference(Graph g) {
  return fuse_relu(fuse_residual_add(fold_batchnorm(drop_dropout(std::move(g)))));
}

}  // namespace scaledl::passes
