// The TrainConfig settings that take one of a few values, as enums with one table of names each:
// the command line maps names to values with it (CLI11's CheckedTransformer), to_json and
// messages map back. Parsed once at the edge; the trainer compares enums, never strings.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "dist/group.h"
#include "optim/schedule.h"
#include "telemetry/mllog.h"

namespace scaledl {

enum class OptimizerKind { sgd, lars };
enum class TrainPrecision { fp32, tf32, fp16, bf16 };
enum class LrScaling { none, linear };

template <class E>
using EnumNames = std::vector<std::pair<std::string, E>>;

// The names of each enum's values, in the order help texts list them.
const EnumNames<OptimizerKind>& enum_names(OptimizerKind);
const EnumNames<TrainPrecision>& enum_names(TrainPrecision);
const EnumNames<LrScaling>& enum_names(LrScaling);
const EnumNames<Layout>& enum_names(Layout);
const EnumNames<WireType>& enum_names(WireType);
const EnumNames<Schedule::Kind>& enum_names(Schedule::Kind);
const EnumNames<MlDivision>& enum_names(MlDivision);

[[noreturn]] void throw_unknown_name(const std::string& flag, const std::string& name,
                                     const std::string& names);

// The name of `v` ("lars" for OptimizerKind::lars).
template <class E>
std::string enum_name(E v) {
  for (const auto& [name, value] : enum_names(E{}))
    if (value == v) return name;
  return "?";
}

// "sgd, lars": the names, for messages and help.
template <class E>
std::string enum_list() {
  std::string s;
  for (const auto& [name, value] : enum_names(E{})) s += (s.empty() ? "" : ", ") + name;
  return s;
}

// The value named `name`; throws Error("config", "FLAG: 'x' is not one of ...") otherwise.
template <class E>
E parse_enum(const std::string& name, const std::string& flag) {
  for (const auto& [n, value] : enum_names(E{}))
    if (n == name) return value;
  throw_unknown_name(flag, name, enum_list<E>());
}

}  // namespace scaledl
