// The checks every backend shares, run once per call before dispatch (see validate.h). Errors
// name the op, the tensor and its Tensor::str(), as the backends' own checks do.
#include "ops/validate.h"

#include <initializer_list>
#include <string>

#include "ops/checks.h"

namespace scaledl::validate {

namespace {

// Every defined tensor of the call lives on the device of `where` (the tensor that picks the
// backend): a kernel reads all of them from one memory.
void one_device(const char* op, const Tensor& where, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    require(!t->defined() || t->device() == where.device(), op,
            "every tensor of a call must be on one device: " + t->str() + " is not on " +
                where.device().str() + " (the device of " + where.str() + "); copy it there first");
}
void one_device(const char* op, const Tensor& where, const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts) one_device(op, where, {&t});
}

// x-side (x or dx), weights (w or dw) and y-side (y or dy) tensors of one convolution.
void conv_geometry(const char* op, const Conv2dParams& p, const char* xn, const Tensor& x,
                   const char* wn, const Tensor& w, const char* yn, const Tensor& y) {
  require_rank(op, xn, x, 4);
  require_rank(op, wn, w, 4);
  require_rank(op, yn, y, 4);
  require_same_layout(op, yn, y, x);
  require_same_dtype(op, wn, w, x);
  require_same_dtype(op, yn, y, x);
  require(p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0 && p.dil_h >= 1 &&
              p.dil_w >= 1 && p.groups >= 1,
          op, "bad parameters: stride and dilation must be >= 1, padding >= 0, groups >= 1");
  const int64_t N = x.dim(0), C = x.dim(1), O = w.dim(0), G = p.groups;
  const int KH = static_cast<int>(w.dim(2)), KW = static_cast<int>(w.dim(3));
  require(C % G == 0 && O % G == 0, op,
          "channels of " + std::string(xn) + " " + x.str() + " and " + wn + " " + w.str() +
              " must divide by groups " + std::to_string(G));
  require(w.dim(1) == C / G, op,
          std::string(wn) + " " + w.str() + " must have C/groups = " + std::to_string(C / G) +
              " input channels for " + xn + " " + x.str());
  const int64_t OH = conv_out_size(x.dim(2), KH, p.stride_h, p.pad_h, p.dil_h);
  const int64_t OW = conv_out_size(x.dim(3), KW, p.stride_w, p.pad_w, p.dil_w);
  require(OH > 0 && OW > 0, op,
          "the (dilated) kernel of " + std::string(wn) + " " + w.str() +
              " does not fit in the padded " + xn + " " + x.str());
  require_shape(op, yn, y, {N, O, OH, OW});
  one_device(op, x, {&w, &y});
}

// A bias (or its gradient): undefined, or [c] on `like`'s device.
void optional_bias(const char* op, const char* name, const Tensor& b, int64_t c,
                   const Tensor& like) {
  if (!b.defined()) return;
  require_length(op, name, b, c);
  one_device(op, like, {&b});
}

// x [N,K] against w [M,K] (linear's input side and weights).
void linear_pair(const char* op, const char* xn, const Tensor& x, const char* wn, const Tensor& w) {
  require_rank(op, xn, x, 2);
  require_rank(op, wn, w, 2);
  require_same_dtype(op, wn, w, x);
  require(w.dim(1) == x.dim(1), op,
          std::string(wn) + " " + w.str() + " must be [M,K] with K = " + std::to_string(x.dim(1)) +
              " (the features of " + xn + " " + x.str() + ")");
}

}  // namespace

// --- convolution ---

void conv2d_forward(const Conv2dParams& p, const Tensor& x, const Tensor& w, const Tensor& b,
                    Tensor& y) {
  conv_geometry("conv2d_forward", p, "x", x, "weights", w, "y", y);
  optional_bias("conv2d_forward", "bias", b, w.dim(0), x);
}

void conv2d_backward_data(const Conv2dParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) {
  conv_geometry("conv2d_backward_data", p, "dx", dx, "weights", w, "dy", dy);
}

void conv2d_backward_weights(const Conv2dParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                             Tensor& db) {
  conv_geometry("conv2d_backward_weights", p, "x", x, "dw", dw, "dy", dy);
  optional_bias("conv2d_backward_weights", "db", db, dw.dim(0), x);
}

// --- linear ---

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  constexpr const char* op = "linear_forward";
  linear_pair(op, "x", x, "weights", w);
  require_same_dtype(op, "y", y, x);
  require_shape(op, "y", y, {x.dim(0), w.dim(0)});
  one_device(op, x, {&w, &y});
  optional_bias(op, "bias", b, w.dim(0), x);
}

void linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  constexpr const char* op = "linear_backward_data";
  require_rank(op, "dy", dy, 2);
  require_rank(op, "weights", w, 2);
  require_same_dtype(op, "weights", w, dy);
  require(w.dim(0) == dy.dim(1), op,
          "weights " + w.str() + " must have M = " + std::to_string(dy.dim(1)) +
              " rows (the columns of dy " + dy.str() + ")");
  require_same_dtype(op, "dx", dx, dy);
  require_shape(op, "dx", dx, {dy.dim(0), w.dim(1)});
  one_device(op, dx, {&dy, &w});
}

void linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) {
  constexpr const char* op = "linear_backward_weights";
  require_rank(op, "x", x, 2);
  require_rank(op, "dy", dy, 2);
  require_same_dtype(op, "dy", dy, x);
  require(dy.dim(0) == x.dim(0), op,
          "x " + x.str() + " and dy " + dy.str() + " must have the same batch");
  require_same_dtype(op, "dw", dw, x);
  require_shape(op, "dw", dw, {dy.dim(1), x.dim(1)});
  one_device(op, dw, {&x, &dy});
  optional_bias(op, "db", db, dy.dim(1), dw);
}

// --- the other ops: one device for all; their backends check shapes and dtypes ---

void batchnorm_forward_train(const BatchNormParams&, const Tensor& x, const Tensor& gamma,
                             const Tensor& beta, Tensor& y, Tensor& save_mean, Tensor& save_var,
                             Tensor& running_mean, Tensor& running_var) {
  one_device("batchnorm_forward_train", y,
             {&x, &gamma, &beta, &save_mean, &save_var, &running_mean, &running_var});
}

void batchnorm_forward_inference(const BatchNormParams&, const Tensor& x, const Tensor& gamma,
                                 const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, Tensor& y) {
  one_device("batchnorm_forward_inference", y, {&x, &gamma, &beta, &running_mean, &running_var});
}

void batchnorm_backward(const BatchNormParams&, const Tensor& x, const Tensor& dy,
                        const Tensor& gamma, const Tensor& save_mean, const Tensor& save_var,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  one_device("batchnorm_backward", dx, {&x, &dy, &gamma, &save_mean, &save_var, &dgamma, &dbeta});
}

void batchnorm_relu_forward_train(const BatchNormParams&, const Tensor& x, const Tensor& gamma,
                                  const Tensor& beta, Tensor& y, Tensor& save_mean,
                                  Tensor& save_var, Tensor& running_mean, Tensor& running_var,
                                  Tensor&) {
  // The workspace is the backend's own (any device it likes, or undefined).
  one_device("batchnorm_relu_forward_train", y,
             {&x, &gamma, &beta, &save_mean, &save_var, &running_mean, &running_var});
}

void batchnorm_relu_backward(const BatchNormParams&, const Tensor& x, const Tensor& y,
                             const Tensor&, const Tensor& dy, const Tensor& gamma,
                             const Tensor& save_mean, const Tensor& save_var, Tensor& dx,
                             Tensor& dgamma, Tensor& dbeta) {
  one_device("batchnorm_relu_backward", dx,
             {&x, &y, &dy, &gamma, &save_mean, &save_var, &dgamma, &dbeta});
}

void relu_forward(const Tensor& x, Tensor& y) {
  one_device("relu_forward", y, {&x});
}

void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  one_device("relu_backward", dx, {&y, &dy});
}

void maxpool2d_forward(const Pool2dParams&, const Tensor& x, Tensor& y, Tensor&) {
  one_device("maxpool2d_forward", y, {&x});
}

void maxpool2d_backward(const Pool2dParams&, const Tensor& x, const Tensor& y, const Tensor&,
                        const Tensor& dy, Tensor& dx) {
  one_device("maxpool2d_backward", dx, {&x, &y, &dy});
}

void avgpool2d_forward(const Pool2dParams&, const Tensor& x, Tensor& y) {
  one_device("avgpool2d_forward", y, {&x});
}

void avgpool2d_backward(const Pool2dParams&, const Tensor& dy, Tensor& dx) {
  one_device("avgpool2d_backward", dx, {&dy});
}

void global_avgpool_forward(const Tensor& x, Tensor& y) {
  one_device("global_avgpool_forward", y, {&x});
}

void global_avgpool_backward(const Tensor& dy, Tensor& dx) {
  one_device("global_avgpool_backward", dx, {&dy});
}

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float, Tensor& loss,
                           Tensor& dlogits) {
  one_device("softmax_cross_entropy", loss, {&logits, &labels, &dlogits});
}

void add(const Tensor& a, const Tensor& b, Tensor& y) {
  one_device("add", y, {&a, &b});
}

void dropout_forward(float, uint64_t, const Tensor& x, Tensor& y, Tensor& mask) {
  one_device("dropout_forward", y, {&x, &mask});
}

void dropout_backward(float, const Tensor& mask, const Tensor& dy, Tensor& dx) {
  one_device("dropout_backward", dx, {&mask, &dy});
}

void concat_channels(const std::vector<Tensor>& xs, Tensor& y) {
  one_device("concat_channels", y, xs);
}

void split_channels(const Tensor& y, std::vector<Tensor>& xs) {
  one_device("split_channels", y, xs);
}

void reorder(const Tensor& x, Tensor& y) {
  one_device("reorder", y, {&x});
}

void cast(const Tensor& x, Tensor& y, float) {
  one_device("cast", y, {&x});
}

void all_finite(const Tensor&) {}

void sgd_update(const SgdParams&, Tensor& param, const Tensor& grad, Tensor& momentum) {
  one_device("sgd_update", param, {&grad, &momentum});
}

void sgd_update_masked(const SgdParams&, Tensor& param, const Tensor& grad, Tensor& momentum,
                       const Tensor& decay_mask) {
  one_device("sgd_update_masked", param, {&grad, &momentum, &decay_mask});
}

}  // namespace scaledl::validate
