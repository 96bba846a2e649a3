// Byte sizes on the command line.
#include "cli/bytes.h"

#include <cctype>
#include <stdexcept>

#include "core/error.h"

namespace scaledl::cli {

uint64_t parse_bytes(const std::string& s, const std::string& flag) {
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    uint64_t mult = 1;
    std::string unit = s.substr(used);
    for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (unit == "K" || unit == "KB" || unit == "KIB")
      mult = 1ull << 10;
    else if (unit == "M" || unit == "MB" || unit == "MIB")
      mult = 1ull << 20;
    else if (unit == "G" || unit == "GB" || unit == "GIB")
      mult = 1ull << 30;
    else if (!unit.empty())
      throw std::invalid_argument(s);
    const double bytes = v * static_cast<double>(mult);
    if (bytes >= 1 && bytes <= 1e15) return static_cast<uint64_t>(bytes);
  } catch (const std::exception&) {
  }
  throw Error("flags", flag + " '" + s +
                           "': want a size from 1 byte to 1 PB, such as 128M, 1G "
                           "or 1048576");
}

std::string bytes_text(uint64_t bytes) {
  static const char* const units[] = {"", "K", "M", "G"};
  int u = 0;
  while (u < 3 && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++u;
  }
  return std::to_string(bytes) + units[u];
}

}  // namespace scaledl::cli
