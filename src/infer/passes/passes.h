// Inference passes: each a function Graph -> Graph that keeps the graph's outputs (up to float
// rounding) and never special-cases a model. They need a graph with values (folding rewrites
// weights). optimize_for_inference runs them in the order the engine wants.
#pragma once
#include "graph/graph.h"

namespace scaledl::passes {

// Dropout and identity nodes removed (their readers read their input).
Graph drop_dropout(Graph g);
// A batch norm whose input is a convolution read by nothing else is folded into that
// convolution's weights and bias: w' = w * gamma / sqrt(var + eps), b' = (b - mean) * that + beta.
Graph fold_batchnorm(Graph g);
// add(conv(x), r) becomes one convolution with r as a fused residual (oneDNN's sum post-op),
// when the convolution is read by the add alone and fuses nothing yet.
Graph fuse_residual_add(Graph g);
// relu(conv or linear) becomes the convolution or linear with a fused ReLU (after any sum);
// clip(0, hi) too, as a ReLU capped at hi (ReLU6).
// Every fusion keeps the fused-away node's int8 threshold (Node::threshold) when it has one.
Graph fuse_relu(Graph g);
// All of the above, in that order.
Graph optimize_for_inference(Graph g);

// Every reader of node `from` (and the output, when it is `from`) reads node `to` instead.
void rewire(Graph& g, int from, int to);

}  // namespace scaledl::passes
