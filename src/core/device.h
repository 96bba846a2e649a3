// Device: where a tensor's memory lives (cpu, or cuda:N once the CUDA backend exists).
#pragma once
#include <string>
#include <string_view>

namespace scaledl {

struct Device {
  enum class Kind { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;

  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {Kind::cuda, i}; }
  bool is_cpu() const { return kind == Kind::cpu; }
  bool operator==(const Device& o) const { return kind == o.kind && index == o.index; }
  std::string str() const;
};

// Parses "cpu", "cuda", "cuda:N"; throws Error naming the flag value otherwise.
Device parse_device(std::string_view s);

}  // namespace scaledl
