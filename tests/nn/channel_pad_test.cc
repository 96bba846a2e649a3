// ChannelPad: the input followed by zero channels, and the input's slice of the gradient back,
// in both layouts.
#include "nn/channel_pad.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "graph/graph.h"

namespace scaledl {
namespace {

TEST(ChannelPad, AppendsZerosAndSlicesTheGradient) {
  Graph g("pad", Shape{2, 4, 5});
  EXPECT_EQ(g.node(g.channel_pad(g.input(), 3)).shape, (Shape{5, 4, 5}));
  EXPECT_THROW(g.channel_pad(g.input(), 0), Error);
  Graph flat("flat", Shape{8});
  EXPECT_THROW(flat.channel_pad(flat.input(), 3), Error);
  ChannelPad pad(3);
  const Shape in_shape{2, 2, 4, 5}, out_shape{2, 5, 4, 5};
  std::vector<float> xv(2 * 2 * 4 * 5), dyv(2 * 5 * 4 * 5);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = 1.f + static_cast<float>(i);
  for (size_t i = 0; i < dyv.size(); ++i) dyv[i] = 0.5f * static_cast<float>(i);
  for (Layout l : {Layout::nchw, Layout::nhwc}) {
    Tensor x = to_layout(Tensor::from(in_shape, xv), l);
    Tensor dy = to_layout(Tensor::from(out_shape, dyv), l);
    Tensor y = Tensor::empty(out_shape, DType::f32, Device::cpu(), l);
    std::vector<Tensor> din{Tensor::empty(in_shape, DType::f32, Device::cpu(), l)};
    pad.forward({}, {x}, y);
    pad.backward({}, {x}, y, dy, din);
    Tensor yn = to_layout(y, Layout::nchw), dxn = to_layout(din[0], Layout::nchw);
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t c = 0; c < 5; ++c)
        for (int64_t i = 0; i < 20; ++i) {
          float got = yn.at((n * 5 + c) * 20 + i);
          EXPECT_EQ(got, c < 2 ? xv[(n * 2 + c) * 20 + i] : 0.f);
          if (c < 2) {
            EXPECT_EQ(dxn.at((n * 2 + c) * 20 + i), dyv[(n * 5 + c) * 20 + i]);
          }
        }
  }
}

}  // namespace
}  // namespace scaledl
