// The names of TrainConfig's enum settings.
#include "train/config_enums.h"

#include "core/error.h"

namespace scaledl {

void throw_unknown_name(const std::string& flag, const std::string& name,
                        const std::string& names) {
  throw Error("config", flag + ": '" + name + "' is not one of " + names);
}

const EnumNames<OptimizerKind>& enum_names(OptimizerKind) {
  static const EnumNames<OptimizerKind> n{{"sgd", OptimizerKind::sgd},
                                          {"lars", OptimizerKind::lars}};
  return n;
}
const EnumNames<TrainPrecision>& enum_names(TrainPrecision) {
  static const EnumNames<TrainPrecision> n{{"fp32", TrainPrecision::fp32},
                                           {"tf32", TrainPrecision::tf32},
                                           {"fp16", TrainPrecision::fp16},
                                           {"bf16", TrainPrecision::bf16}};
  return n;
}
const EnumNames<LrScaling>& enum_names(LrScaling) {
  static const EnumNames<LrScaling> n{{"none", LrScaling::none}, {"linear", LrScaling::linear}};
  return n;
}
const EnumNames<Layout>& enum_names(Layout) {
  static const EnumNames<Layout> n{{"nhwc", Layout::nhwc}, {"nchw", Layout::nchw}};
  return n;
}
const EnumNames<WireType>& enum_names(WireType) {
  static const EnumNames<WireType> n{
      {"f32", WireType::f32}, {"f16", WireType::f16}, {"bf16", WireType::bf16}};
  return n;
}
const EnumNames<Schedule::Kind>& enum_names(Schedule::Kind) {
  static const EnumNames<Schedule::Kind> n{{"constant", Schedule::Kind::constant},
                                           {"step", Schedule::Kind::step},
                                           {"cosine", Schedule::Kind::cosine},
                                           {"poly", Schedule::Kind::poly}};
  return n;
}
const EnumNames<MlDivision>& enum_names(MlDivision) {
  static const EnumNames<MlDivision> n{{"open", MlDivision::kOpen},
                                       {"closed", MlDivision::kClosed}};
  return n;
}

}  // namespace scaledl
