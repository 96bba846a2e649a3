// TrainConfig's enum settings: every name maps to its value and back, an unknown name is one
// line naming the flag and the names, and to_json keeps the strings checkpoints and summaries had.
#include "train/config_enums.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "train/config.h"

namespace scaledl {
namespace {

template <class E>
void round_trips() {
  for (const auto& [name, value] : enum_names(E{})) {
    EXPECT_EQ(parse_enum<E>(name, "--x"), value);
    EXPECT_EQ(enum_name(value), name);
  }
}

TEST(ConfigEnums, NamesRoundTrip) {
  round_trips<OptimizerKind>();
  round_trips<TrainPrecision>();
  round_trips<LrScaling>();
  round_trips<Layout>();
  round_trips<WireType>();
  round_trips<Schedule::Kind>();
  round_trips<MlDivision>();
  EXPECT_EQ(enum_list<Schedule::Kind>(), "constant, step, cosine, poly");
}

TEST(ConfigEnums, UnknownNameNamesTheFlagAndTheChoices) {
  try {
    parse_enum<OptimizerKind>("adam", "--optimizer");
    FAIL() << "adam was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "[config] --optimizer: 'adam' is not one of sgd, lars");
  }
}

TEST(ConfigEnums, ToJsonKeepsTheNames) {
  TrainConfig c;
  c.optimizer = OptimizerKind::lars;
  c.precision = TrainPrecision::fp16;
  c.layout = Layout::nchw;
  const nlohmann::json j = c.to_json();
  EXPECT_EQ(j["optimizer"], "lars");
  EXPECT_EQ(j["precision"], "fp16");
  EXPECT_EQ(j["layout"], "nchw");
  EXPECT_EQ(j["schedule"], "cosine");
  EXPECT_EQ(j["grad_wire"], "f32");
  EXPECT_EQ(j["lr_scaling"], "none");
  EXPECT_EQ(j["mllog_division"], "open");
}

}  // namespace
}  // namespace scaledl
