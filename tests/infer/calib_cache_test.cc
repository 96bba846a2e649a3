// The calibration cache: a write/read round trip, and refusals that name what is wrong.
#include "infer/calib_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;

class CalibCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::test_temp_dir("calib_cache");
    path_ = (dir_ / "resnet50.calib.json").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  static CalibCache sample() {
    CalibCache c;
    c.model = "resnet50";
    c.model_hash = "0123456789abcdef";
    c.method = CalibMethod::percentile;
    c.percentile = 99.9;
    c.images = 500;
    c.source = "npy:/data/calib.npy";
    c.tensors["layer1.0.conv1"] = {3.2f, 9.1f};
    c.tensors["fc"] = {0.1f + 0.2f, 1e-7f};
    c.tensors["conv1"] = {12.345678f, 40.0f};
    return c;
  }
  void write_text(const std::string& text) { std::ofstream(path_) << text; }
  std::string read_text() const {
    std::ifstream f(path_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  // The message of the Error that f throws (fails the test if none).
  template <class F>
  static std::string error_of(F f) {
    try {
      f();
    } catch (const Error& e) {
      EXPECT_EQ(e.component(), "calibration");
      std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      return msg;
    }
    ADD_FAILURE() << "expected an Error";
    return "";
  }
  static void expect_has(const std::string& msg, const std::string& part) {
    EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(CalibCacheTest, RoundTrip) {
  CalibCache c = sample();
  write_calib_cache(path_, c);
  CalibCache r = read_calib_cache(path_);
  EXPECT_EQ(r.model, c.model);
  EXPECT_EQ(r.model_hash, c.model_hash);
  EXPECT_EQ(r.method, c.method);
  EXPECT_EQ(r.percentile, c.percentile);
  EXPECT_EQ(r.images, c.images);
  EXPECT_EQ(r.source, c.source);
  ASSERT_EQ(r.tensors.size(), c.tensors.size());
  for (const auto& [name, t] : c.tensors) {
    ASSERT_TRUE(r.tensors.count(name)) << name;
    EXPECT_EQ(r.tensors[name].threshold, t.threshold) << name;  // bit-exact floats
    EXPECT_EQ(r.tensors[name].max_abs, t.max_abs) << name;
  }
  std::string text = read_text();
  expect_has(text, "\"format\": \"scaledl-calibration\"");
  expect_has(text, "\"version\": 1");
  expect_has(text, "\"method\": \"percentile\"");
  expect_has(text, "\"threshold\": 3.2,");  // the float's shortest decimal
  EXPECT_NO_THROW(check_calib_cache(r, path_, "0123456789abcdef", {"conv1", "fc"}));
  // Rewriting replaces the file and leaves no temporary behind.
  c.tensors.erase("fc");
  write_calib_cache(path_, c);
  EXPECT_EQ(read_calib_cache(path_).tensors.count("fc"), 0u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(CalibCacheTest, RefusesOtherModelHash) {
  CalibCache c = sample();
  std::string msg = error_of([&] { check_calib_cache(c, path_, "fedcba9876543210", {"fc"}); });
  expect_has(msg, path_);
  expect_has(msg, "cache was made for model resnet50 hash 0123456789abcdef");
  expect_has(msg, "this model is hash fedcba9876543210");
  expect_has(msg, "delete it or pass --calib-data to recalibrate");
}

TEST_F(CalibCacheTest, RefusesMissingTensor) {
  CalibCache c = sample();
  std::string msg = error_of([&] {
    check_calib_cache(c, path_, c.model_hash, {"conv1", "layer4.2.conv3", "fc", "layer4.2.bn3"});
  });
  expect_has(msg, path_);
  expect_has(msg, "no threshold for tensor layer4.2.conv3 (and 1 more)");
  expect_has(msg, "--calib-data");
}

TEST_F(CalibCacheTest, RefusesMissingFile) {
  std::string missing = (dir_ / "nope.json").string();
  std::string msg = error_of([&] { read_calib_cache(missing); });
  expect_has(msg, missing);
  expect_has(msg, "No such file or directory");
  expect_has(msg, "--calib-data");
  msg = error_of([&] { read_calib_cache(dir_.string()); });
  expect_has(msg, dir_.string() + ": is a directory");
}

TEST_F(CalibCacheTest, RefusesMalformedFiles) {
  struct Case {
    std::string text, says;
  };
  std::string good =
      nlohmann::ordered_json::parse(R"({"format": "scaledl-calibration", "version": 1,
      "model": "m", "model_hash": "0123456789abcdef", "method": "entropy", "percentile": 99.99,
      "images": 10, "source": "synthetic", "tensors": {"a": {"threshold": 1, "max_abs": 2}}})")
          .dump();
  write_text(good);
  EXPECT_EQ(read_calib_cache(path_).tensors.at("a").threshold, 1.0f);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::vector<Case> cases = {
      {"{\"format\": \"scaledl-calibration\", ", "not valid JSON (at byte"},
      {"", "not valid JSON"},
      {"[1, 2]", "not a JSON object"},
      {with("scaledl-calibration", "other"), "not a calibration cache"},
      {with("\"version\":1", "\"version\":2"), "version 2, this scaledl reads version 1"},
      {with("\"model_hash\":\"0123456789abcdef\"", "\"model_hash\":\"0123\""),
       "model_hash '0123' is not 16 lowercase hex digits"},
      {with("\"model\":\"m\",", ""), "model is missing or not a string"},
      {with("\"method\":\"entropy\"", "\"method\":\"kl\""), "method 'kl'"},
      {with("\"images\":10", "\"images\":\"ten\""), "images is missing or not an integer"},
      {with("\"threshold\":1", "\"threshold\":-1"), "tensors.a.threshold is -1"},
      {with("\"max_abs\":2", "\"max_abs\":null"), "tensors.a.max_abs is missing or not a number"},
      {with("{\"threshold\":1,\"max_abs\":2}", "3"), "tensors.a is not an object"},
  };
  for (const auto& c : cases) {
    write_text(c.text);
    std::string msg = error_of([&] { read_calib_cache(path_); });
    expect_has(msg, path_);
    expect_has(msg, c.says);
    expect_has(msg, "delete it or pass --calib-data to recalibrate");
  }
}

}  // namespace
}  // namespace scaledl
