// Reading, writing and checking the calibration cache (JSON).
#include "infer/calib_cache.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace scaledl {

namespace {

using nlohmann::json;

constexpr const char* kRedo = "delete it or pass --calib-data to recalibrate";

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error("calibration", path + ": " + what + "; " + kRedo);
}

// The double nearest f's shortest decimal, so the file says 3.2 rather than 3.2000000476837158;
// f's exact value where that would not read back as f.
double short_double(float f) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, f);
  *r.ptr = '\0';
  double d = std::strtod(buf, nullptr);
  return float(d) == f ? d : double(f);
}

bool is_hex16(const std::string& s) {
  if (s.size() != 16) return false;
  for (char ch : s)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  return true;
}

const json& field(const json& obj, const char* key, json::value_t type, const std::string& where,
                  const std::string& path) {
  auto it = obj.find(key);
  bool ok = it != obj.end();
  if (ok) {
    if (type == json::value_t::number_float)
      ok = it->is_number();
    else if (type == json::value_t::number_integer)
      ok = it->is_number_integer();
    else
      ok = it->type() == type;
  }
  if (!ok) {
    const char* kind = type == json::value_t::string           ? "a string"
                       : type == json::value_t::object         ? "an object"
                       : type == json::value_t::number_integer ? "an integer"
                                                               : "a number";
    fail(path, where + key + " is missing or not " + kind);
  }
  return *it;
}

float nonneg_float(const json& obj, const char* key, const std::string& where,
                   const std::string& path) {
  double v = field(obj, key, json::value_t::number_float, where, path).get<double>();
  if (!(v >= 0 && float(v) <= std::numeric_limits<float>::max()))
    fail(path, where + key + " is " + std::to_string(v) + ", not a finite number >= 0");
  return float(v);
}

}  // namespace

void write_calib_cache(const std::string& path, const CalibCache& cache) {
  using ordered = nlohmann::ordered_json;  // keys in the order written: format and version first
  SDL_ASSERT(is_hex16(cache.model_hash), "model_hash must be 16 lowercase hex digits");
  ordered tensors = ordered::object();
  for (const auto& [name, t] : cache.tensors) {
    SDL_ASSERT(std::isfinite(t.threshold) && t.threshold >= 0 && std::isfinite(t.max_abs) &&
                   t.max_abs >= 0,
               "calibration thresholds must be finite and >= 0");
    tensors[name] = {{"threshold", short_double(t.threshold)},
                     {"max_abs", short_double(t.max_abs)}};
  }
  ordered j = {{"format", kCalibCacheFormat},
               {"version", kCalibCacheVersion},
               {"model", cache.model},
               {"model_hash", cache.model_hash},
               {"method", std::string(calib_method_name(cache.method))},
               {"percentile", cache.percentile},
               {"images", cache.images},
               {"source", cache.source},
               {"tensors", std::move(tensors)}};
  write_file_atomic(path, j.dump(2) + "\n");
}

CalibCache read_calib_cache(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(path, "is a directory, not a calibration cache");
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw Error("calibration", path + ": cannot read the calibration cache (" +
                                   std::strerror(errno) +
                                   "); check the path, or pass --calib-data to calibrate and "
                                   "write it");
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) fail(path, std::string("read failed (") + std::strerror(errno) + ")");
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    fail(path, "not valid JSON (at byte " + std::to_string(e.byte) + ")");
  }
  if (!j.is_object()) fail(path, "not a JSON object");
  auto fmt = j.find("format");
  if (fmt == j.end() || !fmt->is_string() || *fmt != kCalibCacheFormat)
    fail(path,
         std::string("not a calibration cache (\"format\" is not \"") + kCalibCacheFormat + "\")");
  int64_t version = field(j, "version", json::value_t::number_integer, "", path).get<int64_t>();
  if (version != kCalibCacheVersion)
    fail(path, "version " + std::to_string(version) + ", this scaledl reads version " +
                   std::to_string(kCalibCacheVersion));

  CalibCache c;
  c.model = field(j, "model", json::value_t::string, "", path).get<std::string>();
  c.model_hash = field(j, "model_hash", json::value_t::string, "", path).get<std::string>();
  if (!is_hex16(c.model_hash))
    fail(path, "model_hash '" + c.model_hash + "' is not 16 lowercase hex digits");
  std::string method = field(j, "method", json::value_t::string, "", path).get<std::string>();
  if (method == "entropy")
    c.method = CalibMethod::entropy;
  else if (method == "percentile")
    c.method = CalibMethod::percentile;
  else if (method == "max")
    c.method = CalibMethod::max;
  else
    fail(path, "method '" + method + "' is not entropy, percentile or max");
  c.percentile = field(j, "percentile", json::value_t::number_float, "", path).get<double>();
  c.images = field(j, "images", json::value_t::number_integer, "", path).get<int64_t>();
  c.source = field(j, "source", json::value_t::string, "", path).get<std::string>();
  const json& tensors = field(j, "tensors", json::value_t::object, "", path);
  for (const auto& [name, t] : tensors.items()) {
    std::string where = "tensors." + name + ".";
    if (!t.is_object()) fail(path, "tensors." + name + " is not an object");
    c.tensors[name] = {nonneg_float(t, "threshold", where, path),
                       nonneg_float(t, "max_abs", where, path)};
  }
  return c;
}

void check_calib_cache(const CalibCache& cache, const std::string& path,
                       const std::string& model_hash,
                       const std::vector<std::string>& tensor_names) {
  if (cache.model_hash != model_hash)
    throw Error("calibration", path + ": cache was made for model " + cache.model + " hash " +
                                   cache.model_hash + ", this model is hash " + model_hash + ": " +
                                   kRedo);
  std::vector<const std::string*> missing;
  for (const auto& name : tensor_names)
    if (!cache.tensors.count(name)) missing.push_back(&name);
  if (!missing.empty()) {
    std::string more =
        missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more)" : "";
    throw Error("calibration", path + ": no threshold for tensor " + *missing[0] + more +
                                   " that model " + cache.model + " needs: " + kRedo);
  }
}

}  // namespace scaledl
