// Byte sizes on the command line: "64M", "1G", "500K" or a plain count (data pack, comm bench).
#pragma once
#include <cstdint>
#include <string>

namespace scaledl::cli {

// Parses `s` (K/M/G are powers of 1024; KB/KiB and so on too, any case); a value outside
// 1 byte .. 1 PB or a bad unit throws Error("flags") naming `flag`.
uint64_t parse_bytes(const std::string& s, const std::string& flag);

// 8 -> "8", 65536 -> "64K", 67108864 -> "64M" when exact; otherwise the byte count.
std::string bytes_text(uint64_t bytes);

}  // namespace scaledl::cli
