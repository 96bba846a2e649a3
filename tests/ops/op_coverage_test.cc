// Every op of ops/op_table.inc has a consistency test (its backends against the reference), and
// on a CPU where the cpu backend runs an op in bf16 natively, a native-bf16 test too: adding an
// op to the table without a case fails here, as ggml's test-backend-ops does. The cases are
// named gtest tests; each named test must exist, so a renamed or deleted test fails too.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ops/ops.h"

namespace scaledl {
namespace {

// op -> the tests that compare it across backends (f32, both layouts where it has them).
const std::map<std::string, std::vector<std::string>> kF32Cases = {
    {"conv2d_forward", {"ConsistencyConv.ForwardMatchesReference"}},
    {"conv2d_backward_data", {"ConsistencyConv.BackwardDataMatchesReference"}},
    {"conv2d_backward_weights", {"ConsistencyConv.BackwardWeightsMatchesReference"}},
    {"batchnorm_forward_train", {"ConsistencyBatchNorm.TrainForwardMatchesReference"}},
    {"batchnorm_forward_inference", {"ConsistencyBatchNorm.InferenceForwardMatchesReference"}},
    {"batchnorm_backward", {"ConsistencyBatchNorm.BackwardMatchesReference"}},
    {"batchnorm_relu_forward_train", {"ConsistencyBatchNormRelu.FusedForwardEqualsTheUnfusedPair"}},
    {"batchnorm_relu_backward", {"ConsistencyBatchNormRelu.FusedBackwardEqualsTheUnfusedPair"}},
    {"relu_forward", {"ConsistencyRelu.ForwardAndBackwardMatchReference"}},
    {"relu_backward", {"ConsistencyRelu.ForwardAndBackwardMatchReference"}},
    {"maxpool2d_forward", {"ConsistencyPool.MaxForwardBackwardMatchReference"}},
    {"maxpool2d_backward", {"ConsistencyPool.MaxForwardBackwardMatchReference"}},
    {"avgpool2d_forward", {"ConsistencyPool.AvgForwardBackwardMatchReference"}},
    {"avgpool2d_backward", {"ConsistencyPool.AvgForwardBackwardMatchReference"}},
    {"global_avgpool_forward", {"ConsistencyPool.GlobalAvgMatchesReference"}},
    {"global_avgpool_backward", {"ConsistencyPool.GlobalAvgMatchesReference"}},
    {"linear_forward", {"ConsistencyLinear.ForwardAndBackwardMatchReference"}},
    {"linear_backward_data", {"ConsistencyLinear.ForwardAndBackwardMatchReference"}},
    {"linear_backward_weights", {"ConsistencyLinear.ForwardAndBackwardMatchReference"}},
    {"softmax_cross_entropy", {"ConsistencyLoss.SoftmaxCrossEntropyMatchesReference"}},
    {"add", {"ConsistencyAdd.MatchesReferenceAndAllowsAliasing"}},
    {"dropout_forward", {"ConsistencyDropout.MaskAndValuesMatchReference"}},
    {"dropout_backward", {"ConsistencyDropout.MaskAndValuesMatchReference"}},
    {"concat_channels", {"ConsistencyConcat.ConcatAndSplitMatchReference"}},
    {"split_channels", {"ConsistencyConcat.ConcatAndSplitMatchReference"}},
    {"reorder", {"ConsistencyReorder.MatchesPlainLayoutCopy"}},
    // The host backends share one cast; the GPU's is compared in CudaConsistency.
    {"cast",
     {"Cast.F32ToF16RoundsToNearestEvenAndOverflowsToInf",
      "CudaConsistency.CastRoundsLikeTheReferenceAndAllFiniteSeesInf"}},
    {"all_finite",
     {"AllFinite.FindsInfAndNanInEveryFloatType",
      "CudaConsistency.CastRoundsLikeTheReferenceAndAllFiniteSeesInf"}},
    {"sgd_update", {"ConsistencySgd.UpdateMatchesReference"}},
    {"sgd_update_masked", {"ConsistencySgd.MaskedUpdateEqualsPerSliceUpdates"}},
};

// op -> the test of its native bf16 kernel (run where support(op, cpu, bf16) is native).
constexpr const char* kConv = "NativeBf16.ConvolutionMatchesTheF32ReferenceOnBf16Inputs";
constexpr const char* kOthers = "NativeBf16.OtherOpsMatchTheF32ReferenceOnBf16Inputs";
const std::map<std::string, std::string> kBf16Cases = {
    {"conv2d_forward", kConv},
    {"conv2d_backward_data", kConv},
    {"conv2d_backward_weights", kConv},
    {"batchnorm_forward_train", kOthers},
    {"batchnorm_forward_inference", kOthers},
    {"batchnorm_backward", kOthers},
    {"batchnorm_relu_forward_train", kOthers},
    {"batchnorm_relu_backward", kOthers},
    {"relu_forward", kOthers},
    {"relu_backward", kOthers},
    {"add", kOthers},
    {"maxpool2d_forward", kOthers},
    {"maxpool2d_backward", kOthers},
    {"global_avgpool_forward", kOthers},
    {"global_avgpool_backward", kOthers},
    {"linear_forward", kOthers},
    {"linear_backward_data", kOthers},
    {"linear_backward_weights", kOthers},
    {"reorder", kOthers},
    {"concat_channels", kOthers},
    {"split_channels", kOthers},
    {"cast", "Cast.ScaleIsAppliedBeforeRoundingAndBf16KeepsTheExponentRange"},
    {"all_finite", "AllFinite.FindsInfAndNanInEveryFloatType"},
};

std::set<std::string> registered_tests() {
  std::set<std::string> names;
  const ::testing::UnitTest& u = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < u.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& s = *u.GetTestSuite(i);
    for (int k = 0; k < s.total_test_count(); ++k)
      names.insert(std::string(s.name()) + "." + s.GetTestInfo(k)->name());
  }
  return names;
}

TEST(OpCoverage, EveryOpHasAConsistencyTest) {
  const std::set<std::string> tests = registered_tests();
  for (std::string_view op : op_names()) {
    const auto it = kF32Cases.find(std::string(op));
    ASSERT_NE(it, kF32Cases.end()) << op << " is in ops/op_table.inc but has no consistency "
                                   << "test: add one (tests/ops/consistency_*) and list it here";
    for (const std::string& t : it->second)
      EXPECT_TRUE(tests.count(t)) << op << ": no test named " << t;
  }
  // And no case names an op the table lacks.
  for (const auto& [op, t] : kF32Cases)
    EXPECT_TRUE(supports(op, Backend::reference)) << op << " is not an op";
}

TEST(OpCoverage, EveryNativeBf16OpHasABf16Test) {
  const std::set<std::string> tests = registered_tests();
  int native = 0;
  for (std::string_view op : op_names()) {
    if (support(op, Backend::cpu, DType::bf16) != Support::native) continue;
    ++native;
    const auto it = kBf16Cases.find(std::string(op));
    ASSERT_NE(it, kBf16Cases.end())
        << op << " runs natively in bf16 on the cpu but has no "
        << "bf16 test: add a case (tests/ops/bf16_native_*) and list it here";
    EXPECT_TRUE(tests.count(it->second)) << op << ": no test named " << it->second;
  }
  // cast and all_finite take bf16 natively everywhere; the rest only on avx512_bf16 or AMX.
  EXPECT_GE(native, 2);
  if (native == 2)
    GTEST_SKIP() << "this CPU has no bf16 kernels for oneDNN: only cast and all_finite";
}

}  // namespace
}  // namespace scaledl
