// CRC32C (Castagnoli), as used by iSCSI, ext4 and TFRecord, computed by Intel ISA-L.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace scaledl {

// CRC32C of `n` bytes, continuing from `crc` (the CRC32C of the bytes before; 0 to start).
// crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

// "0x%08x": how checksums and magic numbers appear in messages.
std::string hex32(uint32_t v);

}  // namespace scaledl
