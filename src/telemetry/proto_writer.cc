// Protocol-buffers wire format: base-128 varints, fixed-width little-endian numbers and
// length-delimited bytes, each after a key (field number << 3 | wire type).
#include "telemetry/proto_writer.h"

#include <bit>

namespace scaledl {
namespace {

// Appends the `n` low bytes of `v`, least significant first.
void append_le(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

void ProtoWriter::raw_varint(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void ProtoWriter::tag(int field, int wire_type) {
  raw_varint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}

void ProtoWriter::varint(int field, uint64_t value) {
  tag(field, 0);
  raw_varint(value);
}

void ProtoWriter::float64(int field, double value) {
  tag(field, 1);
  append_le(out_, std::bit_cast<uint64_t>(value), 8);
}

void ProtoWriter::float32(int field, float value) {
  tag(field, 5);
  append_le(out_, std::bit_cast<uint32_t>(value), 4);
}

void ProtoWriter::bytes(int field, std::string_view value) {
  tag(field, 2);
  raw_varint(value.size());
  out_.append(value);
}

}  // namespace scaledl
