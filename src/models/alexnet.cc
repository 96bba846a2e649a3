// AlexNet as torchvision (the one-GPU variant of Krizhevsky 2014): five convs with ReLU and
// three 3x3/2 max pools (features.0/3/6/8/10), then dropout 0.5 + linear + ReLU twice and the
// output linear (classifier.1/4/6). torchvision's AdaptiveAvgPool2d((6,6)) is the identity at
// 224; at other sizes the features are flattened as they come. PyTorch's default init throughout.
#include "models/builders.h"

namespace scaledl::models {

Graph alexnet(int in_channels, int64_t image_size, int classes) {
  Graph g("alexnet", image_shape(in_channels, image_size));
  const Init init = Init::kaiming_uniform_fan_in;
  int x = g.relu(g.conv(g.input(), 64, 11, 4, 2, "features.0", 1, true, init));
  x = g.maxpool(x, 3, 2);
  x = g.relu(g.conv(x, 192, 5, 1, 2, "features.3", 1, true, init));
  x = g.maxpool(x, 3, 2);
  x = g.relu(g.conv(x, 384, 3, 1, 1, "features.6", 1, true, init));
  x = g.relu(g.conv(x, 256, 3, 1, 1, "features.8", 1, true, init));
  x = g.relu(g.conv(x, 256, 3, 1, 1, "features.10", 1, true, init));
  x = g.flatten(g.maxpool(x, 3, 2));
  x = g.relu(g.linear(g.dropout(x, 0.5f), 4096, "classifier.1"));
  x = g.relu(g.linear(g.dropout(x, 0.5f), 4096, "classifier.4"));
  g.linear(x, classes, "classifier.6");
  return g;
}

}  // namespace scaledl::models
