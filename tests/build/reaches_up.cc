// Compiled by ctest (build.layering.*) against one library's include root: graph/ may not see
// nn/ (the training executor sits above it), optim/ may (it declares nn as a dependency).
#include "nn/net.h"
