// MlLog (":::MLLOG" lines in MLLogger's exact encoding) and the ResNet-50 run helpers.
#include "telemetry/mllog.h"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "core/error.h"

namespace scaledl {
namespace {

using json = nlohmann::json;

// A double as Python's repr writes it (shortest round trip; fixed notation for exponents in
// [-4, 16), else d.ddde+XX), and NaN / Infinity as json.dumps writes them.
void append_python_float(std::string& out, double x) {
  if (std::isnan(x)) {
    out += "NaN";
    return;
  }
  if (std::isinf(x)) {
    out += x > 0 ? "Infinity" : "-Infinity";
    return;
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  const std::string_view s(buf, static_cast<size_t>(r.ptr - buf));  // "-1.25e-05"
  const size_t e = s.find('e');
  int exp10 = 0;
  const char* exp_text = s.data() + e + 1;
  if (*exp_text == '+') ++exp_text;  // from_chars takes no '+'
  std::from_chars(exp_text, s.data() + s.size(), exp10);
  std::string digits;
  for (char c : s.substr(0, e))
    if (c >= '0' && c <= '9') digits += c;
  if (s[0] == '-') out += '-';
  if (exp10 >= 16 || exp10 < -4) {
    out += digits[0];
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
    out += eb;
  } else if (exp10 < 0) {
    out += "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
  } else {
    const size_t int_digits = static_cast<size_t>(exp10) + 1;
    if (digits.size() <= int_digits)
      out += digits + std::string(int_digits - digits.size(), '0') + ".0";
    else
      out += digits.substr(0, int_digits) + "." + digits.substr(int_digits);
  }
}

// `j` as Python's json.dumps writes it (", " and ": " separators, ASCII only).
void append_python_json(std::string& out, const json& j) {
  if (j.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : j.items()) {
      if (!first) out += ", ";
      first = false;
      append_python_json(out, json(k));
      out += ": ";
      append_python_json(out, v);
    }
    out += '}';
  } else if (j.is_array()) {
    out += '[';
    for (size_t i = 0; i < j.size(); ++i) {
      if (i) out += ", ";
      append_python_json(out, j[i]);
    }
    out += ']';
  } else if (j.is_number_float()) {
    append_python_float(out, j.get<double>());
  } else {
    out += j.dump(-1, ' ', true, json::error_handler_t::replace);
  }
}

int64_t unix_time_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The line with `metadata_text` already encoded.
std::string encode_line(std::string_view name_space, int64_t time_ms, std::string_view event_type,
                        std::string_view key, const json& value, std::string_view metadata_text) {
  std::string out = ":::MLLOG {\"namespace\": ";
  append_python_json(out, json(std::string(name_space)));
  out += ", \"time_ms\": " + std::to_string(time_ms) + ", \"event_type\": ";
  append_python_json(out, json(std::string(event_type)));
  out += ", \"key\": ";
  append_python_json(out, json(std::string(key)));
  out += ", \"value\": ";
  append_python_json(out, value);
  out += ", \"metadata\": ";
  out += metadata_text;
  out += '}';
  return out;
}

// MLLogger's metadata: "file" and "lineno" of the call site first, then the caller's keys (which
// override those two when they set them).
std::string encode_metadata(const std::string& file, int64_t lineno, const json& metadata) {
  const json& m = metadata.is_object() ? metadata : json::object();
  std::string out = "{\"file\": ";
  append_python_json(out, m.contains("file") ? m["file"] : json(file));
  out += ", \"lineno\": ";
  append_python_json(out, m.contains("lineno") ? m["lineno"] : json(lineno));
  for (const auto& [k, v] : m.items()) {
    if (k == "file" || k == "lineno") continue;
    out += ", ";
    append_python_json(out, json(k));
    out += ": ";
    append_python_json(out, v);
  }
  out += '}';
  return out;
}

}  // namespace

std::string mllog_line(std::string_view name_space, int64_t time_ms, std::string_view event_type,
                       std::string_view key, const json& value, const json& metadata) {
  std::string meta;
  append_python_json(meta, metadata);
  return encode_line(name_space, time_ms, event_type, key, value, meta);
}

MlLog::MlLog(const std::string& path, bool append, std::string root_dir)
    : path_(path), root_dir_(std::move(root_dir)) {
  file_.reset(std::fopen(path.c_str(), append ? "a" : "w"));
  if (!file_)
    throw Error("mllog", path + ": " + std::strerror(errno) +
                             "; check that the folder of the MLPerf log exists and is writable");
}

void MlLog::point(std::string_view key, const json& value, const json& metadata, Loc loc) {
  write("POINT_IN_TIME", key, value, metadata, loc);
}

void MlLog::start(std::string_view key, const json& value, const json& metadata, Loc loc) {
  write("INTERVAL_START", key, value, metadata, loc);
}

void MlLog::end(std::string_view key, const json& value, const json& metadata, Loc loc) {
  write("INTERVAL_END", key, value, metadata, loc);
}

void MlLog::write(std::string_view event_type, std::string_view key, const json& value,
                  const json& metadata, const Loc& loc) {
  if (!file_) return;  // a log that was never opened (a rank that does not log) drops it
  SDL_ASSERT(metadata.is_null() || metadata.is_object(), "MLPerf log metadata must be an object");
  std::string file = loc.file_name();
  if (!root_dir_.empty() && file.rfind(root_dir_ + "/", 0) == 0)
    file = file.substr(root_dir_.size() + 1);
  std::string line = encode_line("", unix_time_ms(), event_type, key, value,
                                 encode_metadata(file, loc.line(), metadata));
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() ||
      std::fflush(file_.get()) != 0)
    throw Error("mllog", path_ + ": write failed: " + std::strerror(errno));
}

// ---- ResNet-50 helpers ----

namespace {

// The compliance checker's is_integer: within 1e-5 of a whole number.
bool near_integer(double x) {
  return std::abs(std::round(x) - x) < 0.00001;
}

std::string repr(double x) {
  std::string s;
  append_python_float(s, x);
  return s;
}

template <typename Enum, size_t N>
Enum parse_choice(std::string_view s, std::string_view where, std::string_view what,
                  const std::pair<std::string_view, Enum> (&choices)[N]) {
  std::string allowed;
  for (const auto& [name, value] : choices) {
    if (name == s) return value;
    allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  }
  throw Error("mllog", std::string(where) + ": unknown " + std::string(what) + " '" +
                           std::string(s) + "'; use one of " + allowed);
}

constexpr std::pair<std::string_view, MlOptimizer> kOptimizers[] = {{"sgd", MlOptimizer::kSgd},
                                                                    {"lars", MlOptimizer::kLars}};
constexpr std::pair<std::string_view, MlDivision> kDivisions[] = {{"closed", MlDivision::kClosed},
                                                                  {"open", MlDivision::kOpen}};
constexpr std::pair<std::string_view, MlSubmissionStatus> kStatuses[] = {
    {"onprem", MlSubmissionStatus::kOnprem},
    {"cloud", MlSubmissionStatus::kCloud},
    {"preview", MlSubmissionStatus::kPreview},
    {"research", MlSubmissionStatus::kResearch}};

template <typename Enum, size_t N>
std::string_view name_of(Enum v, const std::pair<std::string_view, Enum> (&choices)[N]) {
  for (const auto& [name, value] : choices)
    if (value == v) return name;
  SDL_ASSERT(false, "unnamed MLPerf log enum value");
  return {};
}

void require(bool ok, const std::string& what) {
  if (!ok)
    throw Error("mllog", what + "; the MLPerf compliance checker (training 4.0.0, closed " +
                             "resnet) rejects it: fix the hyperparameter or use the open division");
}

}  // namespace

MlOptimizer parse_ml_optimizer(std::string_view s, std::string_view where) {
  return parse_choice(s, where, "optimizer", kOptimizers);
}
MlDivision parse_ml_division(std::string_view s, std::string_view where) {
  return parse_choice(s, where, "division", kDivisions);
}
MlSubmissionStatus parse_ml_submission_status(std::string_view s, std::string_view where) {
  return parse_choice(s, where, "submission status", kStatuses);
}
std::string_view to_string(MlOptimizer v) {
  return name_of(v, kOptimizers);
}
std::string_view to_string(MlDivision v) {
  return name_of(v, kDivisions);
}
std::string_view to_string(MlSubmissionStatus v) {
  return name_of(v, kStatuses);
}
std::string_view to_string(MlRunStatus v) {
  return v == MlRunStatus::kSuccess ? "success" : "aborted";
}

void check_ml_run_info(const MlRunInfo& info) {
  auto positive = [](int64_t v, const char* name) {
    if (v <= 0)
      throw Error("mllog", std::string(name) + " is " + std::to_string(v) +
                               "; the MLPerf log needs a positive value");
  };
  if (info.org.empty() || info.platform.empty())
    throw Error("mllog", "submission org and platform must not be empty in the MLPerf log");
  positive(info.global_batch_size, "global_batch_size");
  positive(info.gradient_accumulation_steps, "gradient_accumulation_steps");
  positive(info.train_samples, "train_samples");
  positive(info.eval_samples, "eval_samples");
  if (info.division != MlDivision::kClosed) return;
  require(info.benchmark == "resnet",
          "benchmark '" + info.benchmark + "' is not resnet (ResNet-50)");
  const std::string opt(to_string(info.optimizer));
  require(info.end_lr == 0.0001,
          opt + " end learning rate " + repr(info.end_lr) + " is not 0.0001");
  require(info.weight_decay > 0 && near_integer(std::log2(info.weight_decay / 0.0001)),
          opt + " weight decay " + repr(info.weight_decay) + " is not 0.0001 * 2^k");
  if (info.optimizer == MlOptimizer::kSgd) {
    require(near_integer(info.base_lr / 0.001),
            "sgd base learning rate " + repr(info.base_lr) + " is not a multiple of 0.001");
  } else {
    require(info.poly_power == 2, "lars decay poly power " + repr(info.poly_power) + " is not 2");
    require(info.lars_epsilon == 0.0, "lars epsilon " + repr(info.lars_epsilon) + " is not 0");
  }
}

void log_init(MlLog& log, const MlRunInfo& info, MlLog::Loc loc) {
  check_ml_run_info(info);
  auto p = [&](std::string_view key, const nlohmann::json& v) { log.point(key, v, nullptr, loc); };
  p("cache_clear", true);
  log.start("init_start", nullptr, nullptr, loc);
  p("submission_benchmark", info.benchmark);
  p("submission_org", info.org);
  p("submission_division", to_string(info.division));
  p("submission_status", to_string(info.status));
  p("submission_platform", info.platform);
  p("global_batch_size", info.global_batch_size);
  p("opt_name", to_string(info.optimizer));
  p("gradient_accumulation_steps", info.gradient_accumulation_steps);
  if (info.optimizer == MlOptimizer::kSgd) {
    p("sgd_opt_base_learning_rate", info.base_lr);
    p("sgd_opt_end_learning_rate", info.end_lr);
    p("sgd_opt_learning_rate_decay_poly_power", info.poly_power);
    p("sgd_opt_learning_rate_decay_steps", info.decay_steps);
    p("sgd_opt_weight_decay", info.weight_decay);
    p("sgd_opt_momentum", info.momentum);
    p("opt_learning_rate_warmup_epochs", info.warmup_epochs);
  } else {
    p("lars_opt_base_learning_rate", info.base_lr);
    p("lars_opt_end_learning_rate", info.end_lr);
    p("lars_opt_learning_rate_decay_poly_power", info.poly_power);
    p("lars_opt_learning_rate_decay_steps", info.decay_steps);
    p("lars_epsilon", info.lars_epsilon);
    p("lars_opt_learning_rate_warmup_epochs", info.warmup_epochs);
    p("lars_opt_momentum", info.momentum);
    p("lars_opt_weight_decay", info.weight_decay);
  }
  p("model_bn_span", info.bn_span);
  p("train_samples", info.train_samples);
  p("eval_samples", info.eval_samples);
  p("seed", info.seed);
}

void log_run_start(MlLog& log, MlLog::Loc loc) {
  log.end("init_stop", nullptr, nullptr, loc);
  log.start("run_start", nullptr, nullptr, loc);
}

void log_run_header(MlLog& log, const MlRunInfo& info, MlLog::Loc loc) {
  log_init(log, info, loc);
  log_run_start(log, loc);
}

void log_block_start(MlLog& log, int64_t first_epoch_num, int64_t epoch_count, MlLog::Loc loc) {
  SDL_ASSERT(epoch_count > 0, "an MLPerf block holds at least one epoch");
  log.start("block_start", nullptr,
            {{"first_epoch_num", first_epoch_num}, {"epoch_count", epoch_count}}, loc);
}

void log_block_stop(MlLog& log, int64_t first_epoch_num, MlLog::Loc loc) {
  log.end("block_stop", nullptr, {{"first_epoch_num", first_epoch_num}}, loc);
}

void log_epoch_start(MlLog& log, int64_t epoch_num, MlLog::Loc loc) {
  log.start("epoch_start", nullptr, {{"epoch_num", epoch_num}}, loc);
}

void log_epoch_stop(MlLog& log, int64_t epoch_num, MlLog::Loc loc) {
  log.end("epoch_stop", nullptr, {{"epoch_num", epoch_num}}, loc);
}

void log_eval_start(MlLog& log, int64_t epoch_num, MlLog::Loc loc) {
  log.start("eval_start", nullptr, {{"epoch_num", epoch_num}}, loc);
}

void log_eval_stop(MlLog& log, int64_t epoch_num, MlLog::Loc loc) {
  log.end("eval_stop", nullptr, {{"epoch_num", epoch_num}}, loc);
}

void log_eval_accuracy(MlLog& log, double accuracy, int64_t epoch_num, MlLog::Loc loc) {
  SDL_ASSERT(!(accuracy < 0 || accuracy > 1), "MLPerf eval_accuracy is a fraction in [0, 1]");
  log.point("eval_accuracy", accuracy, {{"epoch_num", epoch_num}}, loc);
}

void log_run_stop(MlLog& log, MlRunStatus status, MlLog::Loc loc) {
  log.end("run_stop", nullptr, {{"status", to_string(status)}}, loc);
}

}  // namespace scaledl
