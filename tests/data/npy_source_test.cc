// npy:FILE: samples through the real Loader are exactly the array's values (NCHW and NHWC) with
// the labels file's labels; an unlabeled file serves plans and benchmarks but not training or
// evaluation; any transform that would change the values is refused naming its flag.
#include "data/npy_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/loader.h"
#include "data/pipeline.h"
#include "data/source.h"
#include "io/npy.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;

// The fixture: f4 [3, 3, 4, 5], element k = k * 0.25 - 20, labels [2, 0, 1].
std::string fixture(const std::string& name) {
  return std::string(SCALEDL_SOURCE_DIR) + "/tests/fixtures/npy/" + name;
}
float fixture_value(int64_t n, int64_t c, int64_t h, int64_t w) {
  return static_cast<float>(((n * 3 + c) * 4 + h) * 5 + w) * 0.25f - 20.f;
}

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.what();
  }
  return "";
}

LoaderOptions in_order(int64_t batch) {
  LoaderOptions o;
  o.batch = batch;
  o.threads = 2;
  o.shuffle.mode = ShuffleMode::none;
  o.last = LastBatch::pad;
  return o;
}

class NpySource : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::test_temp_dir("npysrc"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // The fixture's samples copied without their labels file.
  std::string unlabeled() const {
    fs::copy_file(fixture("f4_nchw.npy"), path("u.npy"));
    return path("u.npy");
  }
  fs::path dir_;
};

TEST_F(NpySource, LoaderGivesTheArrayExactlyInBothLayoutsWithLabels) {
  const SourcePtr src = open_eval_source(parse_data_spec("npy:" + fixture("f4_nchw.npy")), 0, 1);
  ASSERT_EQ(src->size(), 3);
  EXPECT_TRUE(src->labeled());
  EXPECT_EQ(src->classes(), 3);
  EXPECT_EQ(src->key(1), "f4_nchw/000001");
  EXPECT_EQ(src->stored_bytes(0), 3u * 4 * 5 * 4);
  EXPECT_NE(src->describe().find("3 samples of 3x4x5 <f4, labels "), std::string::npos)
      << src->describe();
  EXPECT_EQ(src->where(2), "npy:" + fixture("f4_nchw.npy") + " sample 2 at byte offset " +
                               std::to_string(128 + 2 * 240));
  for (Layout layout : {Layout::nchw, Layout::nhwc}) {
    PipelineOptions po;
    po.layout = layout;
    po.mean = {0.5f, 0.5f, 0.5f};  // a checkpoint's statistics: not applied to model inputs
    po.stddev = {0.2f, 0.2f, 0.2f};
    Transformer tf = make_transform(*src, false, po);
    EXPECT_EQ(tf.channels(), 3);
    EXPECT_EQ(tf.out_height(), 4);
    EXPECT_EQ(tf.out_width(), 5);
    Loader loader(src, std::move(tf), in_order(2));  // a full batch and a padded one
    std::vector<float> got;
    std::vector<int32_t> labels;
    loader.seek(0, loader.batches_per_epoch());
    for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
      const Batch& batch = loader.next();
      EXPECT_EQ(batch.x.layout(), layout);
      const float* x = batch.x.data<float>();
      got.insert(got.end(), x, x + batch.real * 60);
      for (int64_t r = 0; r < batch.real; ++r) labels.push_back(batch.labels.data<int32_t>()[r]);
    }
    ASSERT_EQ(got.size(), 180u);
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t h = 0; h < 4; ++h)
          for (int64_t w = 0; w < 5; ++w)
            ASSERT_EQ(got[offset4(layout, n, c, h, w, 3, 4, 5)], fixture_value(n, c, h, w))
                << layout_name(layout) << " " << n << c << h << w;
    EXPECT_EQ(labels, (std::vector<int32_t>{2, 0, 1}));
  }
}

TEST_F(NpySource, TrainingTransformWithoutFlipIsTheArrayToo) {
  const DataSplits d = open_data(parse_data_spec("npy:" + fixture("f4_nchw.npy")), 0, 1);
  ASSERT_TRUE(d.train);
  EXPECT_FALSE(d.test);  // one set: evaluation needs --eval-data or --no-eval
  PipelineOptions po;
  po.flip = false;
  po.layout = Layout::nchw;
  Loader loader(d.train, make_transform(*d.train, true, po), in_order(3));
  loader.seek(0, 1);
  const Batch& b = loader.next();
  EXPECT_EQ(b.x.data<float>()[60 + 7], fixture_value(1, 0, 1, 2));
}

TEST_F(NpySource, TransformsThatWouldChangeTheValuesAreRefusedNamingTheFlag) {
  const SourcePtr src = npy_source(fixture("f4_nchw.npy"));
  auto refused = [&](bool train, PipelineOptions po) {
    return error_of([&] { make_transform(*src, train, po); });
  };
  PipelineOptions po;  // flip defaults to on for training
  EXPECT_NE(refused(true, po).find("--flip does not apply; pass --no-flip"), std::string::npos);
  EXPECT_EQ(refused(false, po), "");  // evaluation never flips
  po.flip = false;
  po.pad = 2;
  EXPECT_NE(refused(true, po).find("--crop-pad 2 does not apply"), std::string::npos);
  po.pad = 0;
  po.dtype = DType::u8;
  EXPECT_NE(refused(false, po).find("--dtype u8 does not apply"), std::string::npos);
  po.dtype = DType::f32;
  po.image_size = 224;
  const std::string e = refused(false, po);
  EXPECT_NE(e.find("holds 4x5 samples but 224x224 inputs are wanted (--image-size"),
            std::string::npos)
      << e;
  // The Transformer itself refuses crops, flips and normalization of f32 samples.
  Record r;
  std::vector<uint8_t> scratch;
  src->read(0, r, scratch);
  std::vector<float> out(60);
  TransformScratch ts;
  TransformSpec spec;
  spec.mode = CropMode::random_resized_crop;
  spec.out_size = 4;
  EXPECT_NE(error_of([&] {
              Transformer(spec).apply(r, 0, out.data(), ts, "s0");
            }).find("s0: f32 samples (npy) are model inputs used as stored"),
            std::string::npos);
  spec.mode = CropMode::none;
  spec.mean = {0.5f};
  Transformer norm(spec);
  norm.set_fixed_size(4, 5);
  EXPECT_NE(error_of([&] { norm.apply(r, 0, out.data(), ts, "s0"); }).find("--mean/--std"),
            std::string::npos);
  // A sample of another size names the sample.
  spec.mean.clear();
  Transformer other(spec);
  other.set_fixed_size(5, 5);
  EXPECT_NE(error_of([&] {
              other.apply(r, 0, out.data(), ts, src->where(0));
            }).find(src->where(0) + ": sample is 3x4x5 (CxHxW) but the data set's are 3x5x5"),
            std::string::npos);
}

TEST_F(NpySource, UnlabeledServesPlansButNotTrainingOrEvaluation) {
  const DataSpec spec = parse_data_spec("npy:" + unlabeled());
  for (const char* split : {"train", "test"}) {
    const SourcePtr s = open_split(spec, split, 0, 1);
    EXPECT_FALSE(s->labeled());
    EXPECT_EQ(s->classes(), 1);
    EXPECT_EQ(s->label(2), 0);
    EXPECT_NE(s->describe().find("unlabeled"), std::string::npos);
  }
  const std::string want =
      "npy:" + path("u.npy") + " has no labels (no " + path("u.labels.npy") + ")";
  EXPECT_NE(error_of([&] { open_eval_source(spec, 0, 1); }).find(want + " and evaluation"),
            std::string::npos);
  EXPECT_NE(error_of([&] { open_data(spec, 0, 1); }).find(want + " and training"),
            std::string::npos);
}

TEST_F(NpySource, BadLabelsAndShapesAreNamed) {
  const std::string x = unlabeled();
  const int64_t two[] = {0, 1};
  write_npy_i64(path("u.labels.npy"), {2}, two);
  EXPECT_NE(error_of([&] {
              npy_source(x);
            }).find(path("u.labels.npy") + " has shape [2] but npy:" + x + " holds 3 samples"),
            std::string::npos);
  const int64_t neg[] = {0, -1, 1};
  write_npy_i64(path("u.labels.npy"), {3}, neg);
  EXPECT_NE(error_of([&] { npy_source(x); }).find("label -1 of sample 1 is not a class index"),
            std::string::npos);
  const float fl[] = {0, 1, 2};
  write_npy_f32(path("u.labels.npy"), {3}, fl);
  EXPECT_NE(error_of([&] { npy_source(x); }).find("floats where integers"), std::string::npos);

  const std::vector<float> v(2 * 4 * 4 * 2);
  write_npy_f32(path("nhwc.npy"), {2, 4, 4, 2}, v.data());
  EXPECT_NE(error_of([&] { npy_source(path("nhwc.npy")); }).find("a.transpose(0, 3, 1, 2)"),
            std::string::npos);
  write_npy_f32(path("flat.npy"), {2, 16}, v.data());
  EXPECT_NE(error_of([&] { npy_source(path("flat.npy")); }).find("has shape [2, 16]"),
            std::string::npos);
  const int32_t ints[48] = {};
  write_npy_i32(path("int.npy"), {1, 3, 4, 4}, ints);
  EXPECT_NE(error_of([&] { npy_source(path("int.npy")); }).find("holds <i4 [1, 3, 4, 4]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { npy_source(path("missing.npy")); }).find("missing.npy: cannot open"),
            std::string::npos);
  EXPECT_EQ(npy_labels_path("/d/val.npy"), "/d/val.labels.npy");
  EXPECT_EQ(npy_labels_path("/d/val.bin"), "/d/val.bin.labels.npy");
}

TEST_F(NpySource, SpecParsesAndNamesItself) {
  const DataSpec d = parse_data_spec("npy:/x/val.npy");
  EXPECT_EQ(d.kind, "npy");
  EXPECT_EQ(d.path, "/x/val.npy");
  EXPECT_EQ(d.str(), "npy:/x/val.npy");
  EXPECT_NE(error_of([] { parse_data_spec("nope:1"); }).find("npy:FILE"), std::string::npos);
}

}  // namespace
}  // namespace scaledl
