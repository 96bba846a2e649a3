// Argument checks shared by the validators run before dispatch (validate.cc) and the backends.
#include "ops/checks.h"

#include "core/error.h"

namespace scaledl {

void fail(const char* op, const std::string& what) {
  throw Error(op, what);
}

std::string describe(const Tensor& t) {
  return t.defined() ? t.str() : "undefined";
}

void require_defined(const char* op, const char* name, const Tensor& t) {
  SDL_REQUIRE(t.defined(), op, std::string(name) + " is undefined; pass an allocated tensor");
}

namespace {
// Defined, on the cpu, and f32 (or bf16 too when allow_bf16).
void require_cpu_float(const char* op, const char* name, const Tensor& t, bool allow_bf16) {
  require_defined(op, name, t);
  const bool ok = t.dtype() == DType::f32 || (allow_bf16 && t.dtype() == DType::bf16);
  SDL_REQUIRE(ok, op,
              std::string(name) + (allow_bf16 ? " must be f32 or bf16" : " must be f32") +
                  ", got " + t.str());
  SDL_REQUIRE(t.device().is_cpu(), op, std::string(name) + " must be on the cpu, got " + t.str());
}
}  // namespace

void require_rank(const char* op, const char* name, const Tensor& t, int rank) {
  require_defined(op, name, t);
  SDL_REQUIRE(t.ndim() == rank, op,
              std::string(name) + " must be " + std::to_string(rank) + "-D" +
                  (rank == 4 ? " [N,C,H,W]" : "") + ", got " + t.str());
}

void require_length(const char* op, const char* name, const Tensor& t, int64_t c) {
  SDL_REQUIRE(t.ndim() == 1 && t.dim(0) == c, op,
              std::string(name) + " must be " + std::string(dtype_name(t.dtype())) + "[" +
                  std::to_string(c) + "], got " + t.str());
}

void require_f32(const char* op, const char* name, const Tensor& t) {
  require_cpu_float(op, name, t, false);
}

void require_float(const char* op, const char* name, const Tensor& t) {
  require_cpu_float(op, name, t, true);
}

void require_shape(const char* op, const char* name, const Tensor& t, const Shape& want) {
  require_defined(op, name, t);
  SDL_REQUIRE(t.shape() == want, op,
              std::string(name) + " must have shape " + shape_str(want) + ", got " + t.str());
}

void require_same_layout(const char* op, const char* name, const Tensor& t, const Tensor& ref) {
  SDL_REQUIRE(t.ndim() != 4 || t.layout() == ref.layout(), op,
              std::string(name) + " " + t.str() + " must have the layout of " + ref.str());
}

void require_same_dtype(const char* op, const char* name, const Tensor& t, const Tensor& ref) {
  SDL_REQUIRE(t.dtype() == ref.dtype(), op,
              std::string(name) + " " + t.str() + " must have the dtype of " + ref.str());
}

}  // namespace scaledl
