// The concrete layers the training executor runs (see make_layer for which node kind uses which).
#pragma once
#include <memory>

#include "nn/layer.h"
#include "ops/params.h"

namespace scaledl {

// Conv2d and Linear run fused post-ops (a residual sum, a ReLU) forward only: such graphs come
// from inference passes, and the Net runs them to check those passes.
class Conv2d : public Layer {
 public:
  bool reads_output_in_backward() const override { return false; }
  Conv2d(Conv2dParams p, bool bias, Fused fused = {}) : p_(p), bias_(bias), fused_(fused) {}
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;

 private:
  Conv2dParams p_;
  bool bias_;
  Fused fused_;
};

class Linear : public Layer {
 public:
  bool reads_output_in_backward() const override { return false; }
  explicit Linear(bool bias, Fused fused = {}) : bias_(bias), fused_(fused) {}
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;

 private:
  bool bias_;
  Fused fused_;
};

// With fuse_relu(true) the layer also applies the ReLU that follows it in place (one fused
// kernel in training, batchnorm_relu_*), and that ReLU's layer passes through.
class BatchNorm2d : public Layer {
 public:
  // Fused, backward reads the rectified output; that is what the in-place ReLU writes there.
  bool reads_output_in_backward() const override { return false; }
  BatchNorm2d(BatchNormParams p, int64_t channels) : p_(p), channels_(channels) {}
  void fuse_relu(bool on) { fused_relu_ = on; }
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;

 private:
  BatchNormParams p_;
  int64_t channels_;
  bool fused_relu_ = false;
  Tensor save_mean_, save_var_, workspace_;
};

// Passing through: its input is already rectified (a batch norm fused it) and shares its output's
// storage; the gradient passes unchanged.
class ReLU : public Layer {
 public:
  void set_pass_through(bool on) { pass_through_ = on; }
  bool passes_gradient(int) const override { return pass_through_; }
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;

 private:
  bool pass_through_ = false;
};

class Pool2d : public Layer {
 public:
  enum class Mode { max, avg };
  Pool2d(Mode mode, Pool2dParams p) : mode_(mode), p_(p) {}
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;

 private:
  Mode mode_;
  Pool2dParams p_;
  Tensor workspace_;
};

// [C,H,W] -> [C]
class GlobalAvgPool : public Layer {
 public:
  bool reads_output_in_backward() const override { return false; }
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;
};

// [C,H,W] -> [C*H*W] in PyTorch (NCHW) order, whatever the activation layout.
class Flatten : public Layer {
 public:
  bool reads_output_in_backward() const override { return false; }
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;
};

// Residual add of two equal shapes.
class Add : public Layer {
 public:
  bool reads_output_in_backward() const override { return false; }
  bool passes_gradient(int) const override { return true; }
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;
};

// Dropout with probability p (p = 0: the identity).
class Dropout : public Layer {
 public:
  bool reads_output_in_backward() const override { return false; }
  explicit Dropout(float p) : p_(p) {}
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;

 private:
  float p_;
  Tensor mask_;
  bool masked_ = false;
};

// Channel concatenation (Inception blocks).
class Concat : public Layer {
 public:
  bool reads_output_in_backward() const override { return false; }
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;
};

}  // namespace scaledl
