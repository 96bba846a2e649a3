// safetensors: round trips, exact bytes, a PyTorch-written fixture, and every corruption case
// rejected with the path and byte offset.
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/rng.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::test_temp_dir("st");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string read(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::string put(const std::string& name, const std::string& bytes) const {
    std::string p = path(name);
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  // The message load_safetensors(p) throws ("" if none).
  static std::string load_error(const std::string& p) {
    try {
      load_safetensors(p);
    } catch (const Error& e) {
      EXPECT_EQ(e.component(), "checkpoint");
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

// A safetensors file from a header JSON (padded here) and raw data.
std::string make_file(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  uint64_t n = header.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + header + data;
}

std::string floats(std::initializer_list<float> v) {
  return std::string(reinterpret_cast<const char*>(std::data(v)), v.size() * sizeof(float));
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

template <class T>
Tensor filled(const Shape& shape, DType dtype, int seed) {
  Tensor t = Tensor::empty(shape, dtype);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<T>()[i] = static_cast<T>(mix64(static_cast<uint64_t>(seed * 1000 + i)));
  return t;
}

bool same(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

TEST_F(Safetensors, RoundTripDtypesShapesMetadata) {
  std::vector<std::pair<std::string, Tensor>> tensors = {
      {"conv.w", Tensor::from({2, 3, 1, 2}, {1, -2, 3.5f, 4, 5, 6, 7, 8, 9, 10, 11, 1e-30f})},
      {"half", filled<uint16_t>({5}, DType::f16, 1)},
      {"brain", filled<uint16_t>({1, 2, 2, 1}, DType::bf16, 2)},
      {"q", filled<int8_t>({3}, DType::s8, 3)},
      {"bytes", filled<uint8_t>({2, 2}, DType::u8, 4)},
      {"ids", filled<int32_t>({4}, DType::s32, 5)},
      {"scalar", Tensor::from({}, {42.f})},
      {"empty", Tensor::zeros({0, 3})},
  };
  std::map<std::string, std::string> meta = {{"epoch", "3"}, {"model", "lenet \"v2\""}};
  std::string p = path("rt.safetensors");
  save_safetensors(p, tensors, meta);
  SafetensorsFile f = load_safetensors(p);
  EXPECT_EQ(f.metadata, meta);
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(f.tensors[i].first, tensors[i].first);
    EXPECT_TRUE(same(f.tensors[i].second, tensors[i].second)) << tensors[i].first;
  }
  ASSERT_NE(f.find("ids"), nullptr);
  EXPECT_EQ(f.find("ids")->dtype(), DType::s32);
  EXPECT_EQ(f.find("nope"), nullptr);
  std::string bytes = read(p);
  SafetensorsFile m =
      parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "memory");
  EXPECT_TRUE(same(m.find("conv.w")[0], tensors[0].second));
}

TEST_F(Safetensors, NhwcTensorsAreStoredAsNchw) {
  std::vector<float> v(2 * 3 * 2 * 2);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  Tensor nchw = Tensor::from({2, 3, 2, 2}, v);
  Tensor nhwc = to_layout(nchw, Layout::nhwc);
  // bf16 nhwc: the same transpose on 2-byte elements.
  Tensor b_nchw = filled<uint16_t>({2, 3, 2, 2}, DType::bf16, 9);
  Tensor b_nhwc = Tensor::empty({2, 3, 2, 2}, DType::bf16, Device::cpu(), Layout::nhwc);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t w = 0; w < 2; ++w)
          b_nhwc.data<uint16_t>()[offset4(Layout::nhwc, n, c, h, w, 3, 2, 2)] =
              b_nchw.data<uint16_t>()[offset4(Layout::nchw, n, c, h, w, 3, 2, 2)];
  std::string p = path("nhwc.safetensors");
  save_safetensors(p, {{"f", nhwc}, {"b", b_nhwc}}, {});
  SafetensorsFile f = load_safetensors(p);
  EXPECT_EQ(f.find("f")->layout(), Layout::nchw);
  EXPECT_EQ(f.find("f")->to_vector(), v);
  EXPECT_TRUE(same(*f.find("b"), b_nchw));
  EXPECT_EQ(nhwc.layout(), Layout::nhwc);  // the caller's tensor is untouched
}

TEST_F(Safetensors, WrittenBytesMatchTheSpec) {
  std::string p = path("exact.safetensors");
  Tensor ids = Tensor::empty({1}, DType::s32);
  ids.data<int32_t>()[0] = 5;
  save_safetensors(p, {{"a", Tensor::from({2}, {1.f, 2.f})}, {"b", ids}}, {{"k", "v"}});
  const std::string json =
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}})";
  std::string header = json + std::string((8 - json.size() % 8) % 8, ' ');
  ASSERT_EQ(header.size() % 8, 0u);
  std::string want(8, '\0');
  for (int i = 0; i < 8; ++i) want[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  int32_t five = 5;
  want += header + floats({1.f, 2.f}) + std::string(reinterpret_cast<const char*>(&five), 4);
  EXPECT_EQ(read(p), want);
  // No metadata: no __metadata__ key at all.
  save_safetensors(p, {{"a", Tensor::from({2}, {1.f, 2.f})}}, {});
  EXPECT_EQ(read(p).substr(8, 5), R"({"a":)");
}

TEST_F(Safetensors, LoadsAFileWrittenByPyTorch) {
  SafetensorsFile f =
      load_safetensors(std::string(SCALEDL_SOURCE_DIR) + "/tests/fixtures/torch_small.safetensors");
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.metadata.at("producer"), "make_safetensors_fixture.py");
  ASSERT_EQ(f.tensors.size(), 5u);
  const Tensor* w = f.find("fc.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->shape(), (Shape{2, 3}));
  EXPECT_EQ(w->to_vector(), (std::vector<float>{0, 0.5f, 1, 1.5f, 2, 2.5f}));
  EXPECT_EQ(f.find("fc.bias")->to_vector(), (std::vector<float>{-1, 0, 1.5f}));
  const Tensor* conv = f.find("conv.weight");
  EXPECT_EQ(conv->shape(), (Shape{2, 1, 2, 2}));
  EXPECT_EQ(conv->layout(), Layout::nchw);
  EXPECT_EQ(conv->to_vector(), (std::vector<float>{0, 1, 2, 3, 10, 11, 12, 13}));
  const Tensor* step = f.find("step");
  ASSERT_EQ(step->dtype(), DType::s32);
  EXPECT_EQ(std::vector<int32_t>(step->data<int32_t>(), step->data<int32_t>() + 4),
            (std::vector<int32_t>{0, 7, -3, 2147483647}));
  const Tensor* scale = f.find("scale");
  ASSERT_EQ(scale->dtype(), DType::bf16);
  EXPECT_EQ(scale->data<uint16_t>()[0], 0x3f80);  // 1.0
  EXPECT_EQ(scale->data<uint16_t>()[1], 0xc000);  // -2.0
}

TEST_F(Safetensors, RejectsMissingShortAndTruncatedFiles) {
  std::string p = path("missing.safetensors");
  std::string msg = load_error(p);
  EXPECT_TRUE(has(msg, p + ": cannot open: No such file or directory")) << msg;

  p = put("short.safetensors", "abcde");
  msg = load_error(p);
  EXPECT_TRUE(has(msg, p + ": file is 5 bytes, too short for the 8-byte header length at byte 0"))
      << msg;

  std::string good =
      make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", floats({1, 2}));
  p = put("cut_header.safetensors", good.substr(0, 20));
  msg = load_error(p);
  EXPECT_TRUE(has(msg, p + ": header length 56 at byte 0 runs past the end of the file at byte 20"))
      << msg;
  EXPECT_TRUE(has(msg, "truncated")) << msg;

  std::string text = "not a safetensors file at all, just some text";
  p = put("text.safetensors", text);
  EXPECT_TRUE(has(load_error(p), "at byte 0 runs past the end of the file")) << load_error(p);

  p = put("cut_data.safetensors", good.substr(0, good.size() - 3));
  msg = load_error(p);
  EXPECT_TRUE(has(msg, p + ": tensor 'a': data_offsets [0,8] end at byte 72, past the end of the "
                           "file at byte 69"))
      << msg;
}

TEST_F(Safetensors, RejectsBadHeaders) {
  struct Case {
    std::string header, data, want;
  };
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::vector<Case> cases = {
      {"x" + a + "}", floats({1, 2}), "header is not valid JSON (parse error at line 1, column 1"},
      {"{" + a, floats({1, 2}), "header is not valid JSON"},
      {"[1,2]", "", "header is a JSON array, not an object at byte 8"},
      {R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", floats({1, 2}),
       "tensor 'a' has unknown dtype 'F64' at byte 9; scaledl reads F32, F16, BF16, I8, U8 and "
       "I32; convert the file to one of them"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", floats({1, 2}),
       "tensor 'a': shape [3] of F32 needs 12 bytes but data_offsets [0,8] hold 8 at byte 9"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", floats({1, 2}),
       "shape [-2] is not a list of non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
       floats({1, 2}), "is too large"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", floats({1, 2}),
       "tensor 'a': data_offsets [8,0] are out of order at byte 9"},
      {R"({"a":{"dtype":"F32","shape":[2]}})", floats({1, 2}), "no \"data_offsets\""},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       floats({1, 2, 3}), "tensor 'b' data [4, 12) overlaps tensor 'a' [0, 8) at byte 124"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
       floats({1, 2, 3, 4, 5}), "4 bytes belong to no tensor before tensor 'b' at byte 128"},
      {"{" + a + "}", floats({1, 2, 3}),
       "4 bytes after the last tensor belong to no tensor at byte 72"},
      {R"({"__metadata__":{"k":7}})", "", "__metadata__ value of 'k' is a number, not a string"},
      {std::string(5000, '[') + std::string(5000, ']'), "",
       "header nests deeper than 16 levels at byte 24"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::string p =
        put("bad" + std::to_string(i) + ".safetensors", make_file(cases[i].header, cases[i].data));
    std::string msg = load_error(p);
    EXPECT_TRUE(has(msg, p + ": ")) << msg;
    EXPECT_TRUE(has(msg, cases[i].want)) << "case " << i << ": " << msg;
  }
}

// Garbage and mutated files give Errors, never crashes or absurd allocations.
TEST_F(Safetensors, MutatedBytesNeverCrash) {
  std::string p = path("seed.safetensors");
  save_safetensors(
      p, {{"w", Tensor::from({2, 2}, {1, 2, 3, 4})}, {"b", filled<uint16_t>({3}, DType::bf16, 1)}},
      {{"k", "v"}});
  const std::string seed = read(p);
  Rng rng(3);
  int parsed = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::string buf = seed;
    const int edits = 1 + static_cast<int>(rng.below(4));
    for (int e = 0; e < edits; ++e) {
      size_t at = rng.below(buf.size());
      switch (rng.below(4)) {
        case 0:
          buf[at] = static_cast<char>(rng.next_u64());
          break;
        case 1:
          buf[at] = "0123456789[]{}\",:-e"[rng.below(19)];
          break;
        case 2:
          buf.resize(at);
          break;
        default:
          buf.insert(at, 1, static_cast<char>(rng.next_u64()));
          break;
      }
      if (buf.empty()) break;
    }
    try {
      parse_safetensors(reinterpret_cast<const uint8_t*>(buf.data()), buf.size(), "fuzz");
      ++parsed;
    } catch (const Error&) {
    }
  }
  EXPECT_LT(parsed, 4000);
}

TEST_F(Safetensors, FailedSaveKeepsTheOldFile) {
  std::string p = path("model.safetensors");
  save_safetensors(p, {{"a", Tensor::from({2}, {1, 2})}}, {});
  const std::string good = read(p);
  // Two tensors with one name: rejected before anything is written.
  EXPECT_THROW(
      save_safetensors(p, {{"a", Tensor::from({1}, {3})}, {"a", Tensor::from({1}, {4})}}, {}),
      Error);
  EXPECT_EQ(read(p), good);
  // Directory missing: an io error naming the path; nothing created.
  std::string lost = path("no_dir/model.safetensors");
  try {
    save_safetensors(lost, {{"a", Tensor::from({1}, {3})}}, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "io");
    EXPECT_TRUE(has(e.what(), lost)) << e.what();
  }
  EXPECT_FALSE(fs::exists(lost));
  // The target is a directory: left as it was.
  fs::create_directories(path("adir"));
  EXPECT_THROW(save_safetensors(path("adir"), {{"a", Tensor::from({1}, {3})}}, {}), Error);
  EXPECT_TRUE(fs::is_directory(path("adir")));
  EXPECT_EQ(read(p), good);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);  // no temporaries left
}

}  // namespace
}  // namespace scaledl
