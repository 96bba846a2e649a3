// Loader: batches are a function of (seed, epoch, index, rank, world) only: the same for any
// thread count or prefetch depth, after a seek, and they cover every sample exactly once per
// epoch across ranks; corrupt samples fail with their name or are skipped and counted.
#include "data/loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <set>

#include "core/error.h"
#include "data/corrupt.h"
#include "data/memory_source.h"
#include "data/test_images.h"

namespace scaledl {
namespace {

// n images of 2x2x1 encoding their index (data/test_images.h), third pixel 200.
SourcePtr indexed_source(int64_t n) {
  return memory_source(testing::indexed_set(n, 200), "s", "indexed");
}

// u8 output of the pixels as stored: rows decode back to sample indices.
Transformer raw_u8(bool flip = false) {
  TransformSpec spec;
  spec.mode = CropMode::none;
  spec.dtype = DType::u8;
  spec.layout = Layout::nchw;
  spec.channels = 1;
  spec.flip = flip;
  Transformer t(spec);
  t.set_fixed_size(2, 2);
  return t;
}

int64_t sample_of(const Batch& b, int64_t r) {
  const uint8_t* p = b.x.data<uint8_t>() + r * 4;
  return p[0] + 256 * p[1];
}

std::vector<int64_t> samples_of(const Batch& b) {
  std::vector<int64_t> v;
  for (int64_t r = 0; r < b.real; ++r) v.push_back(sample_of(b, r));
  return v;
}

LoaderOptions opts(int64_t batch, int threads, int prefetch = 2) {
  LoaderOptions o;
  o.batch = batch;
  o.threads = threads;
  o.prefetch = prefetch;
  o.seed = 11;
  return o;
}

// Every batch of `steps` steps, as bytes.
std::vector<std::string> run_steps(Loader& l, int64_t from, int64_t steps) {
  std::vector<std::string> out;
  l.seek(from);
  for (int64_t s = 0; s < steps; ++s) {
    const Batch& b = l.next();
    EXPECT_EQ(b.step, from + s);
    out.emplace_back(static_cast<const char*>(b.x.raw()), b.x.nbytes());
    out.back().append(reinterpret_cast<const char*>(b.labels.raw()), b.labels.nbytes());
  }
  return out;
}

TEST(Loader, BatchesDoNotDependOnThreadsOrPrefetch) {
  SourcePtr src = indexed_source(1000);
  Loader a(src, raw_u8(true), opts(32, 1, 1));
  Loader b(src, raw_u8(true), opts(32, 4, 5));
  Loader c(src, raw_u8(true), opts(32, 3, 2));
  const auto ra = run_steps(a, 0, 70);  // crosses two epoch ends (31 batches per epoch)
  EXPECT_EQ(ra, run_steps(b, 0, 70));
  EXPECT_EQ(ra, run_steps(c, 0, 70));
}

TEST(Loader, SeekMidEpochContinuesTheSameOrder) {
  SourcePtr src = indexed_source(500);
  Loader l(src, raw_u8(true), opts(16, 2));
  const auto all = run_steps(l, 0, 60);
  Loader resumed(src, raw_u8(true), opts(16, 2));
  const auto tail = run_steps(resumed, 37, 23);
  EXPECT_EQ(std::vector<std::string>(all.begin() + 37, all.end()), tail);
  // Seeking back on a running loader works too.
  EXPECT_EQ(run_steps(l, 5, 3), std::vector<std::string>(all.begin() + 5, all.begin() + 8));
}

TEST(Loader, RanksReadEverySampleExactlyOncePerEpoch) {
  const int64_t n = 203;
  SourcePtr src = indexed_source(n);
  for (int world : {1, 2, 3, 8}) {
    std::vector<int> seen(n, 0);
    int64_t steps = -1;
    for (int rank = 0; rank < world; ++rank) {
      LoaderOptions o = opts(8, 2);
      o.rank = rank;
      o.world = world;
      o.last = LastBatch::partial;
      Loader l(src, raw_u8(), o);
      if (steps < 0) steps = l.batches_per_epoch();
      EXPECT_EQ(l.batches_per_epoch(), steps) << "ranks must agree on the step count";
      l.seek(l.batches_per_epoch() * 2);  // epoch 2
      std::vector<int64_t> expect = l.rank_order(2), got;
      for (int64_t b = 0; b < l.batches_per_epoch(); ++b) {
        const Batch& batch = l.next();
        EXPECT_EQ(batch.epoch, 2);
        EXPECT_EQ(batch.x.dim(0), batch.real) << "partial batches are views of the real rows";
        for (int64_t s : samples_of(batch)) got.push_back(s), ++seen[static_cast<size_t>(s)];
        for (int64_t r = 0; r < batch.real; ++r)
          EXPECT_EQ(batch.labels.data<int32_t>()[r], sample_of(batch, r) % 7);
      }
      EXPECT_EQ(got, expect);
    }
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], 1) << i;
  }
}

TEST(Loader, EpochsComeInNewOrders) {
  Loader l(indexed_source(256), raw_u8(), opts(256, 2));
  l.seek(0);
  const std::vector<int64_t> e0 = samples_of(l.next());
  const std::vector<int64_t> e1 = samples_of(l.next());
  EXPECT_EQ(std::set<int64_t>(e0.begin(), e0.end()).size(), 256u);
  EXPECT_EQ(std::set<int64_t>(e1.begin(), e1.end()).size(), 256u);
  EXPECT_NE(e0, e1);
}

TEST(Loader, LastBatchPolicies) {
  SourcePtr src = indexed_source(100);
  LoaderOptions o = opts(30, 2);
  o.shuffle.mode = ShuffleMode::none;
  o.last = LastBatch::drop;
  EXPECT_EQ(Loader(src, raw_u8(), o).batches_per_epoch(), 3);
  o.last = LastBatch::pad;
  Loader pad(src, raw_u8(), o);
  ASSERT_EQ(pad.batches_per_epoch(), 4);
  pad.seek(3);
  const Batch& b = pad.next();
  EXPECT_EQ(b.real, 10);
  EXPECT_EQ(b.x.dim(0), 30);
  EXPECT_EQ(sample_of(b, 9), 99);
  for (int64_t r = 10; r < 30; ++r) {
    EXPECT_EQ(b.x.data<uint8_t>()[r * 4 + 2], 0) << "padding rows are zero";
    EXPECT_EQ(b.labels.data<int32_t>()[r], 0);
  }
  o.last = LastBatch::partial;
  Loader part(src, raw_u8(), o);
  part.seek(3);
  EXPECT_EQ(part.next().x.dim(0), 10);
}

// Wraps a source; reading any sample in `bad` throws DataCorrupt naming it.
class FlakySource final : public SampleSource {
 public:
  FlakySource(SourcePtr inner, std::set<int64_t> bad) : inner_(std::move(inner)), bad_(bad) {}
  int64_t size() const override { return inner_->size(); }
  int classes() const override { return inner_->classes(); }
  const std::vector<std::string>& class_names() const override { return inner_->class_names(); }
  std::string key(int64_t i) const override { return inner_->key(i); }
  int32_t label(int64_t i) const override { return inner_->label(i); }
  uint64_t stored_bytes(int64_t i) const override { return inner_->stored_bytes(i); }
  uint64_t read(int64_t i, Record& out, std::vector<uint8_t>& s) const override {
    if (bad_.count(i))
      throw DataCorrupt("flaky.rec: record " + std::to_string(i) + " at byte offset " +
                        std::to_string(i * 100) + ": payload CRC32C mismatch");
    return inner_->read(i, out, s);
  }
  std::string describe() const override { return "flaky"; }

 private:
  SourcePtr inner_;
  std::set<int64_t> bad_;
};

TEST(Loader, CorruptSampleFailsNamingItUnlessSkipped) {
  auto src = std::make_shared<FlakySource>(indexed_source(64), std::set<int64_t>{5, 40});
  LoaderOptions o = opts(16, 2);
  o.shuffle.mode = ShuffleMode::none;
  {
    Loader l(src, raw_u8(), o);
    try {
      l.next();  // samples 0..15 hold sample 5
      ADD_FAILURE() << "a corrupt sample must stop the loader";
    } catch (const DataCorrupt& e) {
      EXPECT_NE(std::string(e.what()).find("flaky.rec: record 5 at byte offset 500"),
                std::string::npos)
          << e.what();
    }
  }
  o.skip_corrupt = 2;
  {
    Loader l(src, raw_u8(), o);
    l.seek(0, 4);  // no prefetching into the next epoch: the sample count below is exact
    std::vector<int64_t> got;
    for (int b = 0; b < 4; ++b)
      for (int64_t s : samples_of(l.next())) got.push_back(s);
    // Each bad sample is replaced by the next good one of the order.
    EXPECT_EQ(got[5], 6);
    EXPECT_EQ(got[40], 41);
    const LoaderStats st = l.stats();
    EXPECT_EQ(st.corrupt_skipped, 2);
    ASSERT_EQ(st.corrupt.size(), 2u);
    EXPECT_EQ(st.samples, 64);
  }
  o.skip_corrupt = 1;
  {
    Loader l(src, raw_u8(), o);
    try {
      for (int b = 0; b < 4; ++b) l.next();
      ADD_FAILURE() << "the second corrupt sample exceeds --skip-corrupt 1";
    } catch (const DataCorrupt& e) {
      EXPECT_NE(std::string(e.what()).find("--skip-corrupt 1 allows no more"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Loader, AllSamplesCorruptFailsInsteadOfLooping) {
  std::set<int64_t> all;
  for (int64_t i = 0; i < 16; ++i) all.insert(i);
  auto src = std::make_shared<FlakySource>(indexed_source(16), all);
  LoaderOptions o = opts(4, 2);
  o.skip_corrupt = 100;
  Loader l(src, raw_u8(), o);
  try {
    l.next();
    ADD_FAILURE() << "no readable sample is left: the loader must fail";
  } catch (const DataCorrupt& e) {
    EXPECT_NE(std::string(e.what()).find("no readable sample left"), std::string::npos) << e.what();
  }
}

TEST(Loader, LabelOutsideTheClassesIsCorruptAndNamesTheSample) {
  ImageSet set = testing::indexed_set(8);
  set.labels[5] = 7;  // classes = 7
  LoaderOptions o = opts(8, 1);
  o.shuffle.mode = ShuffleMode::none;
  Loader l(memory_source(std::move(set), "s", "indexed"), raw_u8(), o);
  try {
    l.next();
    ADD_FAILURE() << "label 7 of 7 classes must be refused";
  } catch (const DataCorrupt& e) {
    EXPECT_NE(std::string(e.what()).find("sample 5: label 7"), std::string::npos) << e.what();
  }
}

TEST(Loader, NothingIsDecodedPastTheEndStep) {
  Loader l(indexed_source(640), raw_u8(), opts(32, 3, 4));
  l.seek(3, 5);
  // Time for the workers to fill what they may: steps 3 and 4, not the 4 the prefetch allows.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(l.stats().samples, 64) << "the workers decoded batches past the end";
  EXPECT_EQ(l.next().step, 3);
  EXPECT_EQ(l.next().step, 4);
  EXPECT_THROW(l.next(), Error);
  // Prefetch depth as each step found it: 2 batches ready at step 3, 1 at step 4.
  EXPECT_EQ(l.stats().queue_depth_sum, 3.0);
  EXPECT_EQ(l.stats().samples, 64);
}

}  // namespace
}  // namespace scaledl
