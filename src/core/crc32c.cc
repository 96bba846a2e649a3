// CRC32C through Intel ISA-L's crc32_iscsi, which picks the SSE4.2 / PCLMUL code path at run time.
#include "core/crc32c.h"

#include <cstdio>

#include <isa-l/crc.h>

#include <climits>

namespace scaledl {

uint32_t crc32c(const void* data, size_t n, uint32_t crc) {
  // crc32_iscsi works on the un-inverted register (no final xor, caller-supplied init), so the
  // standard CRC32C is ~crc32_iscsi(data, n, ~prev). Its length is an int: feed < 2 GiB at a time.
  constexpr size_t kChunk = size_t{1} << 30;
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
  unsigned int reg = ~crc;
  while (n > 0) {
    size_t len = n < kChunk ? n : kChunk;
    reg = crc32_iscsi(p, static_cast<int>(len), reg);
    p += len;
    n -= len;
  }
  return ~reg;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace scaledl
