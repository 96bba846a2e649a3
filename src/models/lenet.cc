// LeNet-5 (LeCun et al. 1998) with ReLU and max pooling: conv 6@5x5 (pad 2) - pool - conv 16@5x5
// - pool - fc 120 - fc 84 - fc classes. No batch norm and no dropout, so data-parallel runs of
// any rank count compute the same update: the distributed equivalence tests train it.
#include "models/builders.h"

namespace scaledl::models {

Graph lenet5(int in_channels, int64_t image_size, int classes) {
  Graph g("lenet5", image_shape(in_channels, image_size));
  int x = g.relu(g.conv(g.input(), 6, 5, 1, 2, "conv1", 1, true, Init::kaiming_uniform_fan_in));
  x = g.maxpool(x, 2, 2);
  x = g.relu(g.conv(x, 16, 5, 1, 0, "conv2", 1, true, Init::kaiming_uniform_fan_in));
  x = g.maxpool(x, 2, 2);
  x = g.relu(g.linear(g.flatten(x), 120, "fc1"));
  x = g.relu(g.linear(x, 84, "fc2"));
  g.linear(x, classes, "fc3");
  return g;
}

}  // namespace scaledl::models
