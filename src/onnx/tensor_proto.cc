// TensorProto decoding and encoding (see tensor_proto.h).
#include "onnx/tensor_proto.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"

namespace scaledl::onnxio {

namespace fs = std::filesystem;
using onnx::TensorProto;

namespace {

[[noreturn]] void fail(const TensorContext& cx, const std::string& what, const std::string& msg) {
  throw Error("onnx", cx.file + ": " + what + ": " + msg);
}

size_t elem_size(int32_t type) {
  switch (type) {
    case TensorProto::FLOAT:
    case TensorProto::INT32:
      return 4;
    case TensorProto::DOUBLE:
    case TensorProto::INT64:
      return 8;
    case TensorProto::INT8:
    case TensorProto::UINT8:
      return 1;
    default:
      return 0;
  }
}

std::string type_name(int32_t type) {
  return TensorProto::DataType_IsValid(type)
             ? TensorProto::DataType_Name(static_cast<TensorProto::DataType>(type))
             : "data type " + std::to_string(type);
}

}  // namespace

std::string external_file(const TensorProto& t, const std::string& what, const TensorContext& cx) {
  std::string location;
  for (const onnx::StringStringEntryProto& e : t.external_data())
    if (e.key() == "location") location = e.value();
  if (cx.base_dir.empty())
    fail(cx, what, "external data needs the model's folder; load the model from its file");
  const fs::path rel(location);
  if (location.empty() || rel.is_absolute() || rel.has_root_name())
    fail(cx, what, "external data location '" + location + "' must be a relative file name");
  for (const fs::path& part : rel)
    if (part == "..")
      fail(cx, what, "external data location '" + location + "' climbs out of the model's folder");
  return (fs::path(cx.base_dir) / rel).string();
}

namespace {

// The bytes of an external-data tensor: a file beside the model, inside its folder.
std::string external_bytes(const TensorProto& t, const std::string& what, const TensorContext& cx,
                           size_t want) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const onnx::StringStringEntryProto& e : t.external_data()) {
    auto number = [&](const std::string& v) {
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 0) fail(cx, what, "external data " + e.key() + " '" + v + "'");
      return static_cast<int64_t>(n);
    };
    if (e.key() == "location") location = e.value();
    if (e.key() == "offset") offset = number(e.value());
    if (e.key() == "length") length = number(e.value());
  }
  const fs::path file = external_file(t, what, cx);
  std::error_code ec;
  const uintmax_t size = fs::file_size(file, ec);
  if (ec) fail(cx, what, "cannot read external data " + file.string() + ": " + ec.message());
  if (length >= 0 && static_cast<size_t>(length) != want)
    fail(cx, what,
         "external data length " + std::to_string(length) + " is not the " + std::to_string(want) +
             " bytes its dims need");
  if (static_cast<uintmax_t>(offset) > size || size - static_cast<uintmax_t>(offset) < want)
    fail(cx, what,
         "external data " + file.string() + " holds " + std::to_string(size) +
             " bytes; the tensor needs " + std::to_string(want) + " at offset " +
             std::to_string(offset));
  std::ifstream in(file, std::ios::binary);
  std::string bytes(want, '\0');
  in.seekg(offset);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(want)))
    fail(cx, what, "short read of external data " + file.string());
  return bytes;
}

template <class T>
T load_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // x86 and ARM are little-endian, as ONNX's raw_data
  return v;
}

// Visits every element as a double (exact for all supported types but large int64s).
template <class F>
void for_each_value(const TensorProto& t, const std::string& what, const TensorContext& cx, F&& f) {
  const std::vector<int64_t> dims = checked_dims(t, what, cx);
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  const int32_t type = t.data_type();
  const size_t es = elem_size(type);
  if (!es)
    fail(cx, what,
         type_name(type) +
             " tensors are not supported; use float, int8, uint8, int32 "
             "or int64");
  const size_t bytes = static_cast<size_t>(n) * es;
  std::string ext;
  const std::string* raw = nullptr;
  if (t.data_location() == TensorProto::EXTERNAL) {
    ext = external_bytes(t, what, cx, bytes);
    raw = &ext;
  } else if (t.has_raw_data()) {
    raw = &t.raw_data();
  }
  if (raw) {
    if (raw->size() != bytes)
      fail(cx, what,
           "holds " + std::to_string(raw->size()) + " bytes of data; its dims " + "need " +
               std::to_string(bytes) + " (truncated or wrong dims)");
    const char* p = raw->data();
    for (int64_t i = 0; i < n; ++i, p += es) {
      switch (type) {
        case TensorProto::FLOAT:
          f(i, load_le<float>(p));
          break;
        case TensorProto::DOUBLE:
          f(i, load_le<double>(p));
          break;
        case TensorProto::INT32:
          f(i, load_le<int32_t>(p));
          break;
        case TensorProto::INT64:
          f(i, static_cast<double>(load_le<int64_t>(p)));
          break;
        case TensorProto::INT8:
          f(i, load_le<int8_t>(p));
          break;
        default:
          f(i, load_le<uint8_t>(p));
          break;
      }
    }
    return;
  }
  auto check_count = [&](int count) {
    if (count != n)
      fail(cx, what,
           "holds " + std::to_string(count) + " values; its dims need " + std::to_string(n) +
               " (truncated or wrong dims)");
  };
  switch (type) {
    case TensorProto::FLOAT:
      check_count(t.float_data_size());
      for (int64_t i = 0; i < n; ++i) f(i, t.float_data(static_cast<int>(i)));
      break;
    case TensorProto::DOUBLE:
      check_count(t.double_data_size());
      for (int64_t i = 0; i < n; ++i) f(i, t.double_data(static_cast<int>(i)));
      break;
    case TensorProto::INT64:
      check_count(t.int64_data_size());
      for (int64_t i = 0; i < n; ++i) f(i, static_cast<double>(t.int64_data(static_cast<int>(i))));
      break;
    default:  // int32, int8 and uint8 live in int32_data
      check_count(t.int32_data_size());
      for (int64_t i = 0; i < n; ++i) f(i, t.int32_data(static_cast<int>(i)));
      break;
  }
}

}  // namespace

std::vector<int64_t> checked_dims(const TensorProto& t, const std::string& what,
                                  const TensorContext& cx) {
  std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) fail(cx, what, "has a negative dimension " + std::to_string(d));
    if (d > 0 && n > kMaxElements / d)
      fail(cx, what, "dims " + shape_str(dims) + " exceed 2^31 elements; refusing it");
    n *= d;
  }
  return dims;
}

std::vector<float> to_floats(const TensorProto& t, const std::string& what,
                             const TensorContext& cx) {
  std::vector<float> out;
  const std::vector<int64_t> dims = checked_dims(t, what, cx);
  out.resize(static_cast<size_t>(shape_numel(dims)));
  for_each_value(t, what, cx, [&](int64_t i, double v) { out[static_cast<size_t>(i)] = float(v); });
  return out;
}

std::vector<int64_t> to_ints(const TensorProto& t, const std::string& what,
                             const TensorContext& cx) {
  const int32_t type = t.data_type();
  if (type == TensorProto::FLOAT || type == TensorProto::DOUBLE)
    fail(cx, what, "is " + type_name(type) + "; integers expected");
  std::vector<int64_t> out(static_cast<size_t>(shape_numel(checked_dims(t, what, cx))));
  if (type == TensorProto::INT64 && !t.has_raw_data() &&
      t.data_location() != TensorProto::EXTERNAL) {
    if (t.int64_data_size() != static_cast<int>(out.size()))
      fail(cx, what,
           "holds " + std::to_string(t.int64_data_size()) + " values; its dims need " +
               std::to_string(out.size()));
    for (size_t i = 0; i < out.size(); ++i) out[i] = t.int64_data(static_cast<int>(i));
    return out;
  }
  if (type == TensorProto::INT64 && t.has_raw_data()) {
    if (t.raw_data().size() != out.size() * 8)
      fail(cx, what,
           "holds " + std::to_string(t.raw_data().size()) + " bytes; its dims need " +
               std::to_string(out.size() * 8));
    for (size_t i = 0; i < out.size(); ++i) out[i] = load_le<int64_t>(t.raw_data().data() + 8 * i);
    return out;
  }
  for_each_value(t, what, cx,
                 [&](int64_t i, double v) { out[static_cast<size_t>(i)] = int64_t(v); });
  return out;
}

Tensor host_tensor(const Shape& shape, const std::vector<float>& v) {
  Tensor t = Tensor::empty(shape);
  SDL_ASSERT(static_cast<size_t>(t.numel()) == v.size(), "host_tensor: size mismatch");
  std::memcpy(t.data<float>(), v.data(), v.size() * sizeof(float));
  return t;
}

namespace {
void start(TensorProto& t, const std::string& name, const Shape& dims, int32_t type) {
  t.Clear();
  t.set_name(name);
  t.set_data_type(type);
  for (int64_t d : dims) t.add_dims(d);
}
}  // namespace

void set_floats(TensorProto& t, const std::string& name, const Shape& dims, const float* v) {
  start(t, name, dims, TensorProto::FLOAT);
  t.set_raw_data(v, static_cast<size_t>(shape_numel(dims)) * sizeof(float));
}
void set_int8s(TensorProto& t, const std::string& name, const Shape& dims,
               const std::vector<int8_t>& v) {
  start(t, name, dims, TensorProto::INT8);
  t.set_raw_data(v.data(), v.size());
}
void set_uint8s(TensorProto& t, const std::string& name, const Shape& dims,
                const std::vector<uint8_t>& v) {
  start(t, name, dims, TensorProto::UINT8);
  t.set_raw_data(v.data(), v.size());
}
void set_int64s(TensorProto& t, const std::string& name, const Shape& dims,
                const std::vector<int64_t>& v) {
  start(t, name, dims, TensorProto::INT64);
  t.set_raw_data(v.data(), v.size() * sizeof(int64_t));
}

}  // namespace scaledl::onnxio
