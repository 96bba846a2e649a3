// ONNX TensorProto <-> host values: the data types the importer reads (float, double, int8,
// uint8, int32, int64), from raw_data, the typed fields or external data files, with every size
// checked against what is actually there before anything is allocated.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "core/tensor.h"

namespace scaledl::onnxio {

// Elements a tensor may hold: 2^31 (8 GiB of float). Larger dims are refused as hostile.
constexpr int64_t kMaxElements = int64_t{1} << 31;

// Where external data files are looked up (the model file's folder; "" when the model came from
// memory, which then may not use external data) and what to name in errors.
struct TensorContext {
  std::string base_dir;
  std::string file;
};

// The tensor's dims, checked: each >= 0, product <= kMaxElements. `what` names it in errors.
std::vector<int64_t> checked_dims(const onnx::TensorProto& t, const std::string& what,
                                  const TensorContext& cx);
// An external-data tensor's file: a relative name inside the model's folder (Error otherwise,
// and when the model came from memory). Returns the path to read.
std::string external_file(const onnx::TensorProto& t, const std::string& what,
                          const TensorContext& cx);
// Any supported data type as float values (int types converted exactly where they fit).
std::vector<float> to_floats(const onnx::TensorProto& t, const std::string& what,
                             const TensorContext& cx);
// Integer types as int64 values (float types refused).
std::vector<int64_t> to_ints(const onnx::TensorProto& t, const std::string& what,
                             const TensorContext& cx);
// A float tensor of the given logical shape holding `v` (which must have its element count).
Tensor host_tensor(const Shape& shape, const std::vector<float>& v);

// TensorProtos for the exporter: float (raw little-endian), int8, uint8 and int64.
void set_floats(onnx::TensorProto& t, const std::string& name, const Shape& dims, const float* v);
void set_int8s(onnx::TensorProto& t, const std::string& name, const Shape& dims,
               const std::vector<int8_t>& v);
void set_uint8s(onnx::TensorProto& t, const std::string& name, const Shape& dims,
                const std::vector<uint8_t>& v);
void set_int64s(onnx::TensorProto& t, const std::string& name, const Shape& dims,
                const std::vector<int64_t>& v);

}  // namespace scaledl::onnxio
