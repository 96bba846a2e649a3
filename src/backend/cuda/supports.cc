// The cuda backend implements every op of ops/kernels.inc.
#include <string_view>

namespace scaledl {
bool cuda_supports(std::string_view) { return true; }
}  // namespace scaledl
