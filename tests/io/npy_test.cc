// .npy: round trips, byte-identical output to numpy.save, files written by NumPy itself
// (tests/fixtures/make_npy_fixtures.py), and every malformed file refused with the path and the
// byte offset.
#include "io/npy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
  return std::string(SCALEDL_SOURCE_DIR) + "/tests/fixtures/npy/" + name;
}

std::string read_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const std::string& p, const std::string& b) {
  std::ofstream(p, std::ios::binary) << b;
}

// The message of the Error that `fn` throws ("" if none).
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "npy") << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.what();
  }
  return "";
}

// A version 1.0 file: magic, version, header length, `dict` padded to 64 bytes, then `data`.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  const size_t pre = major == 1 ? 10 : 12;
  std::string h = dict;
  while ((pre + h.size() + 1) % 64) h.push_back(' ');
  h.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  for (size_t k = 0; k < pre - 8; ++k) out.push_back(static_cast<char>(h.size() >> (8 * k)));
  return out + h + data;
}

std::string parse_error(const std::string& bytes) {
  return error_of([&] {
    parse_npy_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.npy");
  });
}

class Npy : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::test_temp_dir("npy"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(Npy, F32RoundTripIsByteIdenticalToNumpy) {
  std::vector<float> v(3 * 3 * 4 * 5);
  for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(k) * 0.25f - 20.f;
  write_npy_f32(path("a.npy"), {3, 3, 4, 5}, v.data());
  EXPECT_EQ(read_bytes(path("a.npy")), read_bytes(fixture("f4_nchw.npy")));
  const NpyFile f(path("a.npy"));
  EXPECT_EQ(f.dtype(), NpyDType::f32);
  EXPECT_EQ(f.shape(), (std::vector<int64_t>{3, 3, 4, 5}));
  EXPECT_EQ(f.header().data_offset % 64, 0u);
  EXPECT_EQ(f.to_f32(), v);
  float two[2];
  f.read_f32(7, 2, two);
  EXPECT_EQ(two[0], v[7]);
  EXPECT_EQ(two[1], v[8]);
  EXPECT_FALSE(fs::exists(path("a.npy.tmp." + std::to_string(getpid()))));
}

TEST_F(Npy, IntegerRoundTripsMatchNumpy) {
  const int32_t i32[] = {-5, 7, 2147483647};
  write_npy_i32(path("i.npy"), {3}, i32);
  EXPECT_EQ(read_bytes(path("i.npy")), read_bytes(fixture("i4.npy")));
  EXPECT_EQ(NpyFile(path("i.npy")).to_i64(), (std::vector<int64_t>{-5, 7, 2147483647}));
  const int64_t i64[] = {2, 0, 1};
  write_npy_i64(path("l.npy"), {3}, i64);
  EXPECT_EQ(read_bytes(path("l.npy")), read_bytes(fixture("f4_nchw.labels.npy")));
  // 0-d and empty arrays.
  const float one = 4.5f;
  write_npy_f32(path("s.npy"), {}, &one);
  EXPECT_EQ(NpyFile(path("s.npy")).to_f32(), std::vector<float>{4.5f});
  write_npy_i32(path("e.npy"), {0, 3}, nullptr);
  EXPECT_EQ(NpyFile(path("e.npy")).elements(), 0);
}

TEST_F(Npy, HugeHeaderIsWrittenAsVersion2) {
  const std::vector<int64_t> shape(22000, 1);  // "1, " x 22000: a header over 64 KiB
  const float x = 3.f;
  write_npy_f32(path("big.npy"), shape, &x);
  EXPECT_EQ(read_bytes(path("big.npy"))[6], 2);
  const NpyFile f(path("big.npy"));
  EXPECT_EQ(f.shape(), shape);
  EXPECT_EQ(f.to_f32(), std::vector<float>{3.f});
}

TEST(NpyFixtures, ReadsWhatNumpyWrote) {
  const NpyFile f4(fixture("f4_nchw.npy"));
  const std::vector<float> v = f4.to_f32();
  ASSERT_EQ(v.size(), 180u);
  for (size_t k = 0; k < v.size(); ++k) EXPECT_EQ(v[k], static_cast<float>(k) * 0.25f - 20.f);

  const NpyFile f8(fixture("f8.npy"));
  EXPECT_EQ(f8.dtype(), NpyDType::f64);
  EXPECT_EQ(f8.shape(), (std::vector<int64_t>{2, 3}));
  const std::vector<float> d = f8.to_f32();
  for (int k = 0; k < 6; ++k) EXPECT_EQ(d[k], static_cast<float>(k * 0.1)) << k;

  const NpyFile u1(fixture("u1.npy"));
  EXPECT_EQ(u1.dtype(), NpyDType::u8);
  EXPECT_EQ(u1.shape(), (std::vector<int64_t>{2, 2, 3}));
  const std::vector<int64_t> u = u1.to_i64();
  for (int k = 0; k < 12; ++k) EXPECT_EQ(u[k], k * 20);

  EXPECT_EQ(NpyFile(fixture("i4.npy")).to_i64(), (std::vector<int64_t>{-5, 7, 2147483647}));
  EXPECT_EQ(NpyFile(fixture("f4_nchw.labels.npy")).to_i64(), (std::vector<int64_t>{2, 0, 1}));

  const NpyFile v2(fixture("v2.npy"));
  EXPECT_EQ(v2.shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(v2.to_f32(), (std::vector<float>{1.5f, -2.f, 3.25f, 0.f}));
}

TEST(NpyFixtures, RefusesFortranOrderAndBigEndian) {
  std::string e = error_of([] { NpyFile f(fixture("fortran.npy")); });
  EXPECT_NE(e.find("fortran.npy: fortran_order is True"), std::string::npos) << e;
  EXPECT_NE(e.find("at byte offset 44;"), std::string::npos) << e;
  EXPECT_NE(e.find("ascontiguousarray"), std::string::npos) << e;
  e = error_of([] { NpyFile f(fixture("big_endian.npy")); });
  EXPECT_NE(e.find("big_endian.npy: dtype '>f4' is big-endian at byte offset 20"),
            std::string::npos)
      << e;
}

TEST(NpyFixtures, WrongTypeForTheAccessorIsAnError) {
  const NpyFile u1(fixture("u1.npy"));
  float f[1];
  EXPECT_NE(error_of([&] { u1.read_f32(0, 1, f); }).find("integers where floats"),
            std::string::npos);
  const NpyFile f4(fixture("v2.npy"));
  int64_t i[1];
  EXPECT_NE(error_of([&] { f4.read_i64(0, 1, i); }).find("floats where integers"),
            std::string::npos);
}

TEST_F(Npy, TruncatedFileNamesExpectedAndActualBytes) {
  std::string b = read_bytes(fixture("f4_nchw.npy"));
  ASSERT_EQ(b.size(), 848u);
  write_bytes(path("t.npy"), b.substr(0, 838));
  const std::string e = error_of([&] { NpyFile f(path("t.npy")); });
  EXPECT_NE(e.find(path("t.npy") + ": shape (3, 3, 4, 5) of <f4 needs 720 bytes of data but "
                                   "the file holds 710 (expected 848 bytes in all, actual 838) "
                                   "at byte offset 128; the file is truncated"),
            std::string::npos)
      << e;
  write_bytes(path("x.npy"), b + "junk");
  EXPECT_NE(error_of([&] { NpyFile f(path("x.npy")); }).find("4 bytes too many"),
            std::string::npos);
  write_bytes(path("h.npy"), b.substr(0, 60));
  EXPECT_NE(error_of([&] { NpyFile f(path("h.npy")); })
                .find("header length 118 runs past the end of the file (60 bytes) at byte "
                      "offset 8"),
            std::string::npos);
}

TEST_F(Npy, BadMagicVersionAndMissingFile) {
  std::string e = error_of([&] { NpyFile f(path("missing.npy")); });
  EXPECT_NE(e.find("missing.npy: cannot open"), std::string::npos) << e;
  write_bytes(path("m.npy"), "PK\x03\x04 a zip, not an npy");
  e = error_of([&] { NpyFile f(path("m.npy")); });
  EXPECT_NE(e.find("not a .npy file (no \\x93NUMPY magic) at byte offset 0"), std::string::npos)
      << e;
  write_bytes(path("empty.npy"), "");
  EXPECT_NE(error_of([&] { NpyFile f(path("empty.npy")); }).find("magic"), std::string::npos);
  std::string b = read_bytes(fixture("f4_nchw.npy"));
  b[6] = 3;
  write_bytes(path("v3.npy"), b);
  e = error_of([&] { NpyFile f(path("v3.npy")); });
  EXPECT_NE(e.find("unsupported .npy version 3.0 at byte offset 6; versions 1.0 and 2.0"),
            std::string::npos)
      << e;
  EXPECT_NE(error_of([&] { NpyFile f(dir_.string()); }).find("not a regular file"),
            std::string::npos);
}

TEST(NpyHeader, AcceptsNumpyVariants) {
  // Double quotes, no trailing comma, keys in another order, a Python 2 long, 1-d shapes.
  const std::string b = npy_bytes(R"({"shape": (2L,), "fortran_order": False, "descr": "<i8"})",
                                  std::string(16, '\0'));
  const NpyHeader h = parse_npy_header(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "x");
  EXPECT_EQ(h.dtype, NpyDType::i64);
  EXPECT_EQ(h.shape, std::vector<int64_t>{2});
  EXPECT_EQ(h.data_offset, 128u);
  const std::string u =
      npy_bytes("{'descr': '<u1', 'fortran_order': False, 'shape': (3, )}", "abc");
  EXPECT_EQ(parse_npy_header(reinterpret_cast<const uint8_t*>(u.data()), u.size(), "x").dtype,
            NpyDType::u8);
}

TEST(NpyHeader, MalformedDictsAreRefusedWithTheOffset) {
  const std::string ok_tail = "'fortran_order': False, 'shape': (2,), }";
  struct Case {
    std::string dict, want;
  };
  const Case cases[] = {
      {"'descr': '<f4', " + ok_tail, "does not start with '{' at byte offset 10"},
      {"{'descr': '<f4', 'fortran_order': False}", "has no 'shape' key"},
      {"{'descr': '<f4', 'shape': (2,), 'shape': (2,), 'fortran_order': False}",
       "key 'shape' appears twice at byte offset 42"},
      {"{'descr': '<f4', 'bogus': 1, " + ok_tail,
       "unknown key 'bogus' (a .npy header has descr, fortran_order, shape) at byte offset 27"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", "shape is not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }", "non-integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", "want ',' or ')'"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", "neither True nor False"},
      {"{'descr: '<f4', " + ok_tail, "no ':' after key"},
      {"{'descr': <f4, " + ok_tail, "want a quoted dtype"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", "want ',' or '}'"},
      {"{'descr': '<f4', " + ok_tail + " x", "unexpected text after the header dict"},
      {"{'descr': '<f2', " + ok_tail, "dtype '<f2' is not supported at byte offset 20"},
      {"{'descr': '|b1', " + ok_tail, "dtype '|b1' is not supported"},
      {"{'descr': [('a', '<f4')], " + ok_tail, "structured dtype"},
      {"{'descr': '<f4", "malformed header: unterminated string at byte offset 20"},
  };
  for (const Case& c : cases) {
    const std::string e = parse_error(npy_bytes(c.dict, std::string(8, '\0')));
    EXPECT_NE(e.find("x.npy: "), std::string::npos) << c.dict << " -> " << e;
    EXPECT_NE(e.find(c.want), std::string::npos) << c.dict << " -> " << e;
    EXPECT_NE(e.find("at byte offset"), std::string::npos) << e;
  }
  // A shape whose byte count overflows.
  EXPECT_NE(parse_error(npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': "
                                  "(1000000000, 1000000000, 1000000000), }",
                                  ""))
                .find("too large"),
            std::string::npos);
}

}  // namespace
}  // namespace scaledl
