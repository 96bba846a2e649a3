// The MLPerf training log: MlLog writes ":::MLLOG {json}" lines byte for byte as MLCommons'
// mlperf-logging MLLogger does ({"namespace", "time_ms", "event_type", "key", "value",
// "metadata": {"file", "lineno", ...}}, Python's json.dumps spacing, NaN and Infinity as Python
// writes them), one line per event, flushed as written. Below it, the ResNet-50 helpers: the run
// header (submission, hyperparameter and dataset keys of the training 4.0.0 rules, sgd or lars)
// and the block, epoch, eval and run_stop events, shaped so that the compliance checker
// (python -m mlperf_logging.compliance_checker --usage training --ruleset 4.0.0) passes the log.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace scaledl {

class MlLog {
 public:
  using Loc = std::source_location;

  MlLog() = default;  // a log that drops every event (ranks other than 0 hold one)
  // Opens `path`, truncating it unless `append`; `root_dir`, when set, is cut from the front of
  // the file names in metadata (as MLLogger's root_dir). Throws Error("mllog") naming the path.
  explicit MlLog(const std::string& path, bool append = false, std::string root_dir = {});

  // A POINT_IN_TIME event; metadata (an object or null) goes after "file" and "lineno", which
  // name the caller unless it sets them itself.
  void point(std::string_view key, const nlohmann::json& value = nullptr,
             const nlohmann::json& metadata = nullptr, Loc loc = Loc::current());
  // An INTERVAL_START event.
  void start(std::string_view key, const nlohmann::json& value = nullptr,
             const nlohmann::json& metadata = nullptr, Loc loc = Loc::current());
  // An INTERVAL_END event.
  void end(std::string_view key, const nlohmann::json& value = nullptr,
           const nlohmann::json& metadata = nullptr, Loc loc = Loc::current());

  bool is_open() const { return file_ != nullptr; }
  const std::string& path() const { return path_; }

 private:
  void write(std::string_view event_type, std::string_view key, const nlohmann::json& value,
             const nlohmann::json& metadata, const Loc& loc);

  struct Close {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Close> file_;
  std::string path_, root_dir_;
};

// One log line without its newline, as MLLogger's encoder writes it.
std::string mllog_line(std::string_view name_space, int64_t time_ms, std::string_view event_type,
                       std::string_view key, const nlohmann::json& value,
                       const nlohmann::json& metadata);

// ---- ResNet-50, MLPerf training rules 4.0.0 ----

enum class MlOptimizer { kSgd, kLars };
enum class MlDivision { kClosed, kOpen };
enum class MlSubmissionStatus { kOnprem, kCloud, kPreview, kResearch };
enum class MlRunStatus { kSuccess, kAborted };

// Parse the values as given on a command line ("sgd", "closed", "onprem", ...); a bad one throws
// Error("mllog") naming `where` (a flag) and the allowed values.
MlOptimizer parse_ml_optimizer(std::string_view s, std::string_view where);
MlDivision parse_ml_division(std::string_view s, std::string_view where);
MlSubmissionStatus parse_ml_submission_status(std::string_view s, std::string_view where);
// The spelling in the log: "sgd", "closed", "onprem", "success", ...
std::string_view to_string(MlOptimizer v);
std::string_view to_string(MlDivision v);
std::string_view to_string(MlSubmissionStatus v);
std::string_view to_string(MlRunStatus v);

// The checker's success test for ResNet-50: some eval_accuracy in [0.759, 1).
inline constexpr double kResnetTargetAccuracy = 0.759;

// What the run header says. Epochs and steps as the trainer's schedule uses them.
struct MlRunInfo {
  std::string benchmark = "resnet";  // submission_benchmark: resnet for ResNet-50, else the model
  std::string org;                   // submission_org, not empty
  std::string platform;              // submission_platform, not empty (e.g. "1xH200")
  MlDivision division = MlDivision::kClosed;
  MlSubmissionStatus status = MlSubmissionStatus::kOnprem;
  int64_t global_batch_size = 0;            // samples per optimizer step, all ranks together
  int64_t gradient_accumulation_steps = 1;  // micro-batches per optimizer step
  int64_t train_samples = 0;                // training set size (ImageNet: 1281167)
  int64_t eval_samples = 0;                 // validation set size (ImageNet: 50000)
  int64_t seed = 0;
  MlOptimizer optimizer = MlOptimizer::kLars;
  double base_lr = 0;       // peak learning rate, reached at the end of warmup
  double end_lr = 0.0001;   // closed: must be 0.0001
  double poly_power = 2;    // polynomial decay power; closed lars: must be 2
  int64_t decay_steps = 0;  // optimizer steps the polynomial decay runs over
  int64_t warmup_epochs = 0;
  double momentum = 0.9;
  double weight_decay = 5e-5;  // closed: 0.0001 * 2^k
  double lars_epsilon = 0;     // lars only; closed: must be 0
  int64_t bn_span = 0;         // model_bn_span: samples per batch-norm statistics group
};

// Throws Error("mllog") on what would make the log fail the checker: empty org or platform,
// sizes <= 0, and in the closed division the rules' value checks (sgd base_lr a multiple of
// 0.001, end_lr 0.0001, weight_decay 0.0001 * 2^k, lars poly_power 2 and lars_epsilon 0).
void check_ml_run_info(const MlRunInfo& info);

// check_ml_run_info, then in order: cache_clear (true), init_start (INTERVAL_START),
// submission_benchmark "resnet", submission_org, submission_division, submission_status,
// submission_platform, global_batch_size, opt_name, gradient_accumulation_steps, the optimizer's
// keys (sgd: sgd_opt_base_learning_rate, sgd_opt_end_learning_rate,
// sgd_opt_learning_rate_decay_poly_power, sgd_opt_learning_rate_decay_steps,
// sgd_opt_weight_decay, sgd_opt_momentum, opt_learning_rate_warmup_epochs; lars:
// lars_opt_base_learning_rate, lars_opt_end_learning_rate,
// lars_opt_learning_rate_decay_poly_power, lars_opt_learning_rate_decay_steps, lars_epsilon,
// lars_opt_learning_rate_warmup_epochs, lars_opt_momentum, lars_opt_weight_decay),
// model_bn_span, train_samples, eval_samples, seed.
void log_init(MlLog& log, const MlRunInfo& info, MlLog::Loc loc = MlLog::Loc::current());
// init_stop (INTERVAL_END) then run_start (INTERVAL_START): the clock starts; call it before the
// training data is touched, within 30 minutes (closed) of init_start.
void log_run_start(MlLog& log, MlLog::Loc loc = MlLog::Loc::current());
// log_init then log_run_start, for a trainer with nothing to do between them.
void log_run_header(MlLog& log, const MlRunInfo& info, MlLog::Loc loc = MlLog::Loc::current());

// block_start (INTERVAL_START), metadata {first_epoch_num, epoch_count}: the epochs trained
// before the next eval. Epochs count from 1; epoch_count > 0.
void log_block_start(MlLog& log, int64_t first_epoch_num, int64_t epoch_count,
                     MlLog::Loc loc = MlLog::Loc::current());
// block_stop (INTERVAL_END), metadata {first_epoch_num} of the block it ends.
void log_block_stop(MlLog& log, int64_t first_epoch_num, MlLog::Loc loc = MlLog::Loc::current());
// epoch_start / epoch_stop, metadata {epoch_num}.
void log_epoch_start(MlLog& log, int64_t epoch_num, MlLog::Loc loc = MlLog::Loc::current());
void log_epoch_stop(MlLog& log, int64_t epoch_num, MlLog::Loc loc = MlLog::Loc::current());
// eval_start / eval_stop, metadata {epoch_num}: the epochs trained when the eval ran.
void log_eval_start(MlLog& log, int64_t epoch_num, MlLog::Loc loc = MlLog::Loc::current());
void log_eval_stop(MlLog& log, int64_t epoch_num, MlLog::Loc loc = MlLog::Loc::current());
// eval_accuracy (POINT_IN_TIME): top-1 as a fraction in [0, 1] (NaN allowed), metadata
// {epoch_num}: the epochs trained so far; the last one before a successful run_stop is the
// run's epochs to converge for the RCP checker.
void log_eval_accuracy(MlLog& log, double accuracy, int64_t epoch_num,
                       MlLog::Loc loc = MlLog::Loc::current());
// run_stop (INTERVAL_END), metadata {status}: success once an eval reached the target,
// aborted otherwise.
void log_run_stop(MlLog& log, MlRunStatus status, MlLog::Loc loc = MlLog::Loc::current());

}  // namespace scaledl
