// The concrete layers the model builders use.
#pragma once
#include <memory>

#include "nn/layer.h"
#include "ops/params.h"

namespace scaledl {

class Conv2d : public Layer {
 public:
  Conv2d(int out_channels, int kernel, Conv2dParams p, bool bias, Init init);
  std::string_view kind() const override { return "conv2d"; }
  Shape infer(const std::vector<Shape>& in) override;
  std::vector<ParamSpec> param_specs() const override;
  int64_t flops(const std::vector<Shape>& in, const Shape& out) const override;
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;
  const Conv2dParams& params() const { return p_; }

 private:
  int out_, kernel_, in_ = 0;
  Conv2dParams p_;
  bool bias_;
  Init init_;
};

class Linear : public Layer {
 public:
  Linear(int out_features, bool bias, Init init);
  std::string_view kind() const override { return "linear"; }
  Shape infer(const std::vector<Shape>& in) override;
  std::vector<ParamSpec> param_specs() const override;
  int64_t flops(const std::vector<Shape>& in, const Shape& out) const override;
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;

 private:
  int out_, in_ = 0;
  bool bias_;
  Init init_;
};

class BatchNorm2d : public Layer {
 public:
  // zero_gamma: this is the last BN of a residual branch (gamma starts at 0 when asked).
  explicit BatchNorm2d(bool zero_gamma = false, BatchNormParams p = {});
  std::string_view kind() const override { return "batchnorm2d"; }
  Shape infer(const std::vector<Shape>& in) override;
  std::vector<ParamSpec> param_specs() const override;
  std::vector<BufferSpec> buffer_specs() const override;
  int64_t flops(const std::vector<Shape>& in, const Shape& out) const override;
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;

 private:
  bool zero_gamma_;
  BatchNormParams p_;
  int64_t channels_ = 0;
  Tensor save_mean_, save_var_;
};

class ReLU : public Layer {
 public:
  std::string_view kind() const override { return "relu"; }
  Shape infer(const std::vector<Shape>& in) override;
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;
};

class Pool2d : public Layer {
 public:
  enum class Mode { max, avg };
  Pool2d(Mode mode, Pool2dParams p);
  std::string_view kind() const override { return mode_ == Mode::max ? "maxpool2d" : "avgpool2d"; }
  Shape infer(const std::vector<Shape>& in) override;
  int64_t flops(const std::vector<Shape>& in, const Shape& out) const override;
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
  std::string_view kind() const override { return "global_avgpool"; }
  Shape infer(const std::vector<Shape>& in) override;
  int64_t flops(const std::vector<Shape>& in, const Shape& out) const override;
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;
};

// [C,H,W] -> [C*H*W] in PyTorch (NCHW) order, whatever the activation layout.
class Flatten : public Layer {
 public:
  std::string_view kind() const override { return "flatten"; }
  Shape infer(const std::vector<Shape>& in) override;
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;

 private:
  Tensor scratch_;
};

// Residual add of two equal shapes.
class Add : public Layer {
 public:
  std::string_view kind() const override { return "add"; }
  Shape infer(const std::vector<Shape>& in) override;
  bool passes_gradient(int input) const override { return input == 0; }
  int64_t flops(const std::vector<Shape>& in, const Shape& out) const override;
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;
};

class Dropout : public Layer {
 public:
  explicit Dropout(float p);
  std::string_view kind() const override { return "dropout"; }
  Shape infer(const std::vector<Shape>& in) override;
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
  std::string_view kind() const override { return "concat"; }
  Shape infer(const std::vector<Shape>& in) override;
  void forward(const RunContext&, const std::vector<Tensor>& in, Tensor& out) override;
  void backward(const RunContext&, const std::vector<Tensor>& in, const Tensor& out,
                const Tensor& dout, std::vector<Tensor>& din) override;
};

}  // namespace scaledl
