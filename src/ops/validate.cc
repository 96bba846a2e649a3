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
    SDL_REQUIRE(!t->defined() || t->device() == where.device(), op,
                "every tensor of a call must be on one device: " + t->str() + " is not on " +
                    where.device().str() + " (the device of " + where.str() +
                    "); copy it there first");
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
  SDL_REQUIRE(p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0 && p.dil_h >= 1 &&
                  p.dil_w >= 1 && p.groups >= 1,
              op, "bad parameters: stride and dilation must be >= 1, padding >= 0, groups >= 1");
  const int64_t N = x.dim(0), C = x.dim(1), O = w.dim(0), G = p.groups;
  const int KH = static_cast<int>(w.dim(2)), KW = static_cast<int>(w.dim(3));
  SDL_REQUIRE(C % G == 0 && O % G == 0, op,
              "channels of " + std::string(xn) + " " + x.str() + " and " + wn + " " + w.str() +
                  " must divide by groups " + std::to_string(G));
  SDL_REQUIRE(w.dim(1) == C / G, op,
              std::string(wn) + " " + w.str() + " must have C/groups = " + std::to_string(C / G) +
                  " input channels for " + xn + " " + x.str());
  const int64_t OH = conv_out_size(x.dim(2), KH, p.stride_h, p.pad_h, p.dil_h);
  const int64_t OW = conv_out_size(x.dim(3), KW, p.stride_w, p.pad_w, p.dil_w);
  SDL_REQUIRE(OH > 0 && OW > 0, op,
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
  SDL_REQUIRE(w.dim(1) == x.dim(1), op,
              std::string(wn) + " " + w.str() + " must be [M,K] with K = " +
                  std::to_string(x.dim(1)) + " (the features of " + xn + " " + x.str() + ")");
}

using Named = std::pair<const char*, const Tensor*>;

// Batch norm's tensors: x [N,C,H,W]; each of `likes` has x's shape, layout and dtype; each of
// `channels` is f32 [C] (statistics and affine parameters stay f32 whatever x's dtype); all on
// `where`'s device.
void batchnorm_tensors(const char* op, const Tensor& where, const Tensor& x,
                       std::initializer_list<Named> likes, std::initializer_list<Named> channels) {
  require_rank(op, "x", x, 4);
  for (auto [name, t] : likes) {
    require_shape(op, name, *t, x.shape());
    require_same_layout(op, name, *t, x);
    require_same_dtype(op, name, *t, x);
  }
  for (auto [name, t] : channels) {
    require_defined(op, name, *t);
    SDL_REQUIRE(t->dtype() == DType::f32, op, std::string(name) + " must be f32, got " + t->str());
    require_length(op, name, *t, x.dim(1));
  }
  one_device(op, where, {&x});
  for (auto [name, t] : likes) one_device(op, where, {t});
  for (auto [name, t] : channels) one_device(op, where, {t});
}

// Training needs more than one value per channel for its batch statistics.
void batch_statistics(const char* op, const Tensor& x) {
  SDL_REQUIRE(x.dim(0) * x.dim(2) * x.dim(3) > 1, op,
              "training needs more than one value per channel (N*H*W > 1), got x " + x.str());
}

// x-side (x or dx) and y-side (y or dy) tensors of one pooling window op (PyTorch's rules:
// padding at most half the kernel; ceil mode rounds the output size up).
void pool_window(const char* op, const Pool2dParams& p, const char* xn, const Tensor& x,
                 const char* yn, const Tensor& y) {
  require_rank(op, xn, x, 4);
  require_rank(op, yn, y, 4);
  require_same_layout(op, yn, y, x);
  require_same_dtype(op, yn, y, x);
  SDL_REQUIRE(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1 &&
                  p.pad_h >= 0 && p.pad_w >= 0,
              op, "bad parameters: kernel and stride must be >= 1, padding >= 0");
  SDL_REQUIRE(2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w, op,
              "padding must be at most half the kernel (as PyTorch), got pad " +
                  std::to_string(p.pad_h) + "x" + std::to_string(p.pad_w) + " for kernel " +
                  std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w));
  const int64_t OH = pool_out_size(x.dim(2), p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
  const int64_t OW = pool_out_size(x.dim(3), p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
  SDL_REQUIRE(OH > 0 && OW > 0, op,
              "the window does not fit in the padded " + std::string(xn) + " " + x.str());
  require_shape(op, yn, y, {x.dim(0), x.dim(1), OH, OW});
  one_device(op, x, {&y});
}

// x [N,C,H,W] (H, W > 0) and y [N,C] of global average pooling (or dx and dy).
void global_pool(const char* op, const char* xn, const Tensor& x, const char* yn, const Tensor& y) {
  require_rank(op, xn, x, 4);
  SDL_REQUIRE(x.dim(2) > 0 && x.dim(3) > 0, op,
              std::string(xn) + " has an empty plane: " + x.str());
  require_same_dtype(op, yn, y, x);
  require_shape(op, yn, y, {x.dim(0), x.dim(1)});
  one_device(op, x, {&y});
}

// t has `like`'s shape, layout and dtype (elementwise ops run in memory order).
void elementwise_like(const char* op, const char* name, const Tensor& t, const Tensor& like) {
  require_shape(op, name, t, like.shape());
  require_same_layout(op, name, t, like);
  require_same_dtype(op, name, t, like);
  one_device(op, like, {&t});
}

void require_float_dtype(const char* op, const char* name, const Tensor& t) {
  require_defined(op, name, t);
  SDL_REQUIRE(t.dtype() == DType::f32 || t.dtype() == DType::f16 || t.dtype() == DType::bf16, op,
              std::string(name) + " must be f32, f16 or bf16, got " + t.str());
}

void dropout_probability(const char* op, float p) {
  SDL_REQUIRE(p >= 0.f && p < 1.f, op,
              "dropout probability must be in [0, 1), got " + std::to_string(p));
}

// The keep-mask of dropout: u8 with x's element count (read in memory order).
void dropout_mask(const char* op, const Tensor& mask, const Tensor& x) {
  require_defined(op, "mask", mask);
  SDL_REQUIRE(mask.dtype() == DType::u8 && mask.numel() == x.numel(), op,
              "mask must be u8 with the " + std::to_string(x.numel()) + " elements of " + x.str() +
                  ", got " + mask.str());
  one_device(op, x, {&mask});
}

// The parts of a channel concatenation against the whole y: 4-D, y's N, H, W, dtype and layout,
// channels adding up to y's.
void channel_parts(const char* op, const std::vector<Tensor>& xs, const Tensor& y) {
  require_rank(op, "y", y, 4);
  SDL_REQUIRE(!xs.empty(), op, "needs at least one part");
  int64_t channels = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const std::string name = "part " + std::to_string(i);
    const Tensor& x = xs[i];
    require_rank(op, name.c_str(), x, 4);
    require_same_dtype(op, name.c_str(), x, y);
    require_same_layout(op, name.c_str(), x, y);
    SDL_REQUIRE(x.dim(0) == y.dim(0) && x.dim(2) == y.dim(2) && x.dim(3) == y.dim(3), op,
                name + " " + x.str() + " must have the N, H and W of " + y.str());
    channels += x.dim(1);
  }
  SDL_REQUIRE(channels == y.dim(1), op,
              "the parts' channels add up to " + std::to_string(channels) + ", not the " +
                  std::to_string(y.dim(1)) + " of " + y.str());
  one_device(op, y, xs);
}

// SGD's tensors: an f32 parameter, an f32 gradient of its size and an f32 momentum buffer of its
// size (which may be left undefined when the momentum factor is 0), all on one device.
void sgd_tensors(const char* op, const SgdParams& p, const Tensor& param, const Tensor& grad,
                 const Tensor& momentum) {
  require_defined(op, "parameter", param);
  SDL_REQUIRE(param.dtype() == DType::f32, op, "parameter must be f32, got " + param.str());
  const auto of_param = [&](const char* name, const Tensor& t) {
    require_defined(op, name, t);
    SDL_REQUIRE(t.dtype() == DType::f32 && t.numel() == param.numel(), op,
                std::string(name) + " must be f32 with the " + std::to_string(param.numel()) +
                    " elements of the parameter " + param.str() + ", got " + t.str());
    one_device(op, param, {&t});
  };
  of_param("gradient", grad);
  if (momentum.defined() || p.momentum != 0.f) of_param("momentum", momentum);
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
  SDL_REQUIRE(w.dim(0) == dy.dim(1), op,
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
  SDL_REQUIRE(dy.dim(0) == x.dim(0), op,
              "x " + x.str() + " and dy " + dy.str() + " must have the same batch");
  require_same_dtype(op, "dw", dw, x);
  require_shape(op, "dw", dw, {dy.dim(1), x.dim(1)});
  one_device(op, dw, {&x, &dy});
  optional_bias(op, "db", db, dy.dim(1), dw);
}

// --- batch norm ---

namespace {
void batchnorm_train(const char* op, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                     const Tensor& y, const Tensor& save_mean, const Tensor& save_var,
                     const Tensor& running_mean, const Tensor& running_var) {
  batchnorm_tensors(op, y, x, {{"y", &y}},
                    {{"gamma", &gamma},
                     {"beta", &beta},
                     {"save_mean", &save_mean},
                     {"save_var", &save_var},
                     {"running_mean", &running_mean},
                     {"running_var", &running_var}});
  batch_statistics(op, x);
}
}  // namespace

void batchnorm_forward_train(const BatchNormParams&, const Tensor& x, const Tensor& gamma,
                             const Tensor& beta, Tensor& y, Tensor& save_mean, Tensor& save_var,
                             Tensor& running_mean, Tensor& running_var) {
  batchnorm_train("batchnorm_forward_train", x, gamma, beta, y, save_mean, save_var, running_mean,
                  running_var);
}

void batchnorm_forward_inference(const BatchNormParams&, const Tensor& x, const Tensor& gamma,
                                 const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, Tensor& y) {
  batchnorm_tensors("batchnorm_forward_inference", y, x, {{"y", &y}},
                    {{"gamma", &gamma},
                     {"beta", &beta},
                     {"running_mean", &running_mean},
                     {"running_var", &running_var}});
}

void batchnorm_backward(const BatchNormParams&, const Tensor& x, const Tensor& dy,
                        const Tensor& gamma, const Tensor& save_mean, const Tensor& save_var,
                        Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  batchnorm_tensors("batchnorm_backward", dx, x, {{"dy", &dy}, {"dx", &dx}},
                    {{"gamma", &gamma},
                     {"save_mean", &save_mean},
                     {"save_var", &save_var},
                     {"dgamma", &dgamma},
                     {"dbeta", &dbeta}});
}

// The workspace is the backend's own (any dtype and size, or undefined): not checked.
void batchnorm_relu_forward_train(const BatchNormParams&, const Tensor& x, const Tensor& gamma,
                                  const Tensor& beta, Tensor& y, Tensor& save_mean,
                                  Tensor& save_var, Tensor& running_mean, Tensor& running_var,
                                  Tensor&) {
  batchnorm_train("batchnorm_relu_forward_train", x, gamma, beta, y, save_mean, save_var,
                  running_mean, running_var);
}

void batchnorm_relu_backward(const BatchNormParams&, const Tensor& x, const Tensor& y,
                             const Tensor&, const Tensor& dy, const Tensor& gamma,
                             const Tensor& save_mean, const Tensor& save_var, Tensor& dx,
                             Tensor& dgamma, Tensor& dbeta) {
  batchnorm_tensors("batchnorm_relu_backward", dx, x, {{"y", &y}, {"dy", &dy}, {"dx", &dx}},
                    {{"gamma", &gamma},
                     {"save_mean", &save_mean},
                     {"save_var", &save_var},
                     {"dgamma", &dgamma},
                     {"dbeta", &dbeta}});
}

// --- pooling (a max pooling workspace is the backend's own: not checked) ---

void maxpool2d_forward(const Pool2dParams& p, const Tensor& x, Tensor& y, Tensor&) {
  pool_window("maxpool2d_forward", p, "x", x, "y", y);
}

void maxpool2d_backward(const Pool2dParams& p, const Tensor& x, const Tensor& y, const Tensor&,
                        const Tensor& dy, Tensor& dx) {
  constexpr const char* op = "maxpool2d_backward";
  pool_window(op, p, "dx", dx, "dy", dy);
  require_shape(op, "x", x, dx.shape());
  require_shape(op, "y", y, dy.shape());
  one_device(op, dx, {&x, &y});
}

void avgpool2d_forward(const Pool2dParams& p, const Tensor& x, Tensor& y) {
  pool_window("avgpool2d_forward", p, "x", x, "y", y);
}

void avgpool2d_backward(const Pool2dParams& p, const Tensor& dy, Tensor& dx) {
  pool_window("avgpool2d_backward", p, "dx", dx, "dy", dy);
}

void global_avgpool_forward(const Tensor& x, Tensor& y) {
  global_pool("global_avgpool_forward", "x", x, "y", y);
}

void global_avgpool_backward(const Tensor& dy, Tensor& dx) {
  global_pool("global_avgpool_backward", "dx", dx, "dy", dy);
}

// --- elementwise and data movement ---

void relu_forward(const Tensor& x, Tensor& y) {
  constexpr const char* op = "relu_forward";
  require_defined(op, "x", x);
  elementwise_like(op, "y", y, x);
}

void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  constexpr const char* op = "relu_backward";
  require_defined(op, "y", y);
  elementwise_like(op, "dy", dy, y);
  elementwise_like(op, "dx", dx, y);
}

void add(const Tensor& a, const Tensor& b, Tensor& y) {
  constexpr const char* op = "add";
  require_defined(op, "a", a);
  elementwise_like(op, "b", b, a);
  elementwise_like(op, "y", y, a);
}

void dropout_forward(float p, uint64_t, const Tensor& x, Tensor& y, Tensor& mask) {
  constexpr const char* op = "dropout_forward";
  dropout_probability(op, p);
  require_defined(op, "x", x);
  elementwise_like(op, "y", y, x);
  if (mask.defined()) dropout_mask(op, mask, x);  // else the backend allocates it
}

void dropout_backward(float p, const Tensor& mask, const Tensor& dy, Tensor& dx) {
  constexpr const char* op = "dropout_backward";
  dropout_probability(op, p);
  require_defined(op, "dy", dy);
  elementwise_like(op, "dx", dx, dy);
  dropout_mask(op, mask, dy);
}

void concat_channels(const std::vector<Tensor>& xs, Tensor& y) {
  channel_parts("concat_channels", xs, y);
}

void split_channels(const Tensor& y, std::vector<Tensor>& xs) {
  channel_parts("split_channels", xs, y);
}

void reorder(const Tensor& x, Tensor& y) {
  constexpr const char* op = "reorder";
  require_defined(op, "x", x);
  require_same_dtype(op, "y", y, x);
  require_shape(op, "y", y, x.shape());
  one_device(op, x, {&y});
}

void cast(const Tensor& x, Tensor& y, float) {
  constexpr const char* op = "cast";
  require_float_dtype(op, "x", x);
  require_float_dtype(op, "y", y);
  SDL_REQUIRE(y.numel() == x.numel() && y.layout() == x.layout(), op,
              "y " + y.str() + " must have the elements and layout of x " + x.str());
  one_device(op, x, {&y});
}

void all_finite(const Tensor& x) {
  require_float_dtype("all_finite", "x", x);
}

// --- loss and optimizer ---

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float smoothing,
                           Tensor& loss, Tensor& dlogits) {
  constexpr const char* op = "softmax_cross_entropy";
  require_rank(op, "logits", logits, 2);
  SDL_REQUIRE(logits.dim(0) >= 1 && logits.dim(1) >= 1, op,
              "logits must not be empty, got " + logits.str());
  require_shape(op, "labels", labels, {logits.dim(0)});
  SDL_REQUIRE(labels.dtype() == DType::s32, op, "labels must be s32, got " + labels.str());
  require_defined(op, "loss", loss);
  SDL_REQUIRE(loss.dtype() == DType::f32 && loss.numel() == 1, op,
              "loss must be one f32 value, got " + loss.str());
  if (dlogits.defined()) {
    require_shape(op, "dlogits", dlogits, logits.shape());
    require_same_dtype(op, "dlogits", dlogits, logits);
  }
  SDL_REQUIRE(smoothing >= 0.f && smoothing <= 1.f, op,
              "label smoothing must be in [0, 1], got " + std::to_string(smoothing));
  one_device(op, logits, {&labels, &loss, &dlogits});
}

void sgd_update(const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum) {
  sgd_tensors("sgd_update", p, param, grad, momentum);
}

void sgd_update_masked(const SgdParams& p, Tensor& param, const Tensor& grad, Tensor& momentum,
                       const Tensor& decay_mask) {
  constexpr const char* op = "sgd_update_masked";
  sgd_tensors(op, p, param, grad, momentum);
  require_defined(op, "decay mask", decay_mask);
  SDL_REQUIRE(decay_mask.dtype() == DType::u8 && decay_mask.numel() == param.numel(), op,
              "decay mask must be u8 with the " + std::to_string(param.numel()) +
                  " elements of the parameter " + param.str() + ", got " + decay_mask.str());
  one_device(op, param, {&decay_mask});
}

}  // namespace scaledl::validate
