// ProtoWriter: a minimal protocol-buffers encoder (wire format only, no schema) for the few
// messages scaledl writes itself: TensorBoard's Event, Summary and the hparams plugin's data.
// Fields are appended in call order; nested messages are encoded first and added as bytes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace scaledl {

class ProtoWriter {
 public:
  // Wire type 0: int32/int64/uint64/bool/enum (a negative value takes ten bytes, as in protobuf).
  void varint(int field, uint64_t value);
  void int64(int field, int64_t value) { varint(field, static_cast<uint64_t>(value)); }
  void boolean(int field, bool value) { varint(field, value ? 1 : 0); }
  // Wire type 1: double, little-endian.
  void float64(int field, double value);
  // Wire type 5: float, little-endian.
  void float32(int field, float value);
  // Wire type 2: string, bytes or an already-encoded message.
  void bytes(int field, std::string_view value);
  void message(int field, const ProtoWriter& m) { bytes(field, m.data()); }

  const std::string& data() const { return out_; }

 private:
  void raw_varint(uint64_t v);
  void tag(int field, int wire_type);

  std::string out_;
};

}  // namespace scaledl
