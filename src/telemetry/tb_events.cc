// TensorBoard events: the TFRecord framing and the Event, Summary and hparams-plugin messages.
// Field numbers are those of tensorboard/compat/proto/{event,summary,tensor,tensor_shape}.proto,
// tensorboard/plugins/hparams/{plugin_data,api}.proto and google/protobuf/struct.proto.
#include "telemetry/tb_events.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "core/crc32c.h"
#include "core/error.h"
#include "telemetry/proto_writer.h"

namespace scaledl {
namespace {

// tensorboard.Event
constexpr int kEventWallTime = 1, kEventStep = 2, kEventFileVersion = 3, kEventSummary = 5;
// tensorboard.Summary and Summary.Value
constexpr int kSummaryValue = 1;
constexpr int kValueTag = 1, kValueSimpleValue = 2, kValueTensor = 8, kValueMetadata = 9;
// tensorboard.SummaryMetadata and SummaryMetadata.PluginData
constexpr int kMetadataPluginData = 1, kPluginName = 1, kPluginContent = 2;
// tensorboard.TensorProto, TensorShapeProto; DT_FLOAT
constexpr int kTensorDtype = 1, kTensorShape = 2, kShapeDim = 2, kDtFloat = 1;
// tensorboard.hparams.HParamsPluginData (version 1 stays 0, PLUGIN_DATA_VERSION)
constexpr int kPluginExperiment = 2, kPluginSessionStart = 3, kPluginSessionEnd = 4;
// tensorboard.hparams.Experiment, HParamInfo, MetricInfo, MetricName
constexpr int kExperimentTimeCreated = 3, kExperimentHParamInfos = 4, kExperimentMetricInfos = 5;
constexpr int kHParamInfoName = 1, kHParamInfoType = 4;
constexpr int kMetricInfoName = 1, kMetricNameTag = 2;
// tensorboard.hparams.DataType
constexpr int kTypeString = 1, kTypeBool = 2, kTypeFloat64 = 3;
// tensorboard.hparams.SessionStartInfo (map<string, Value> hparams: entries key 1, value 2)
constexpr int kStartHParams = 1, kStartTime = 5, kEntryKey = 1, kEntryValue = 2;
// tensorboard.hparams.SessionEndInfo
constexpr int kEndStatus = 1, kEndTime = 2;
// google.protobuf.Value
constexpr int kNumberValue = 2, kStringValue = 3, kBoolValue = 4;

// A Summary with one Value: `tag`, the hparams plugin's metadata around `plugin_data` (an
// encoded HParamsPluginData) and an empty float tensor, as tensorboard's hparams summaries hold.
std::string hparams_summary(const std::string& tag, const ProtoWriter& plugin_data) {
  ProtoWriter plugin, metadata, shape, tensor, value, summary;
  plugin.bytes(kPluginName, "hparams");
  plugin.bytes(kPluginContent, plugin_data.data());
  metadata.message(kMetadataPluginData, plugin);
  shape.bytes(kShapeDim, "");  // one dimension of size 0
  tensor.varint(kTensorDtype, kDtFloat);
  tensor.message(kTensorShape, shape);
  value.bytes(kValueTag, tag);
  value.message(kValueTensor, tensor);
  value.message(kValueMetadata, metadata);
  summary.message(kSummaryValue, value);
  return summary.data();
}

}  // namespace

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t crc = crc32c(data, n);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string frame_record(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  auto put_le = [&out](uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put_le(data.size(), 8);
  put_le(masked_crc32c(out.data(), 8), 4);
  out.append(data);
  put_le(masked_crc32c(data.data(), data.size()), 4);
  return out;
}

std::string scalar_event(const std::string& tag, int64_t step, float value, double wall_time) {
  ProtoWriter v, summary, event;
  v.bytes(kValueTag, tag);
  v.float32(kValueSimpleValue, value);
  summary.message(kSummaryValue, v);
  event.float64(kEventWallTime, wall_time);
  event.int64(kEventStep, step);
  event.message(kEventSummary, summary);
  return event.data();
}

EventWriter::EventWriter(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw Error("tensorboard", dir +
                                   ": no such folder for the event file; create it or pass an "
                                   "existing run folder");
  const std::string base = dir + "/events.out.tfevents." + std::to_string(std::time(nullptr)) +
                           "." + host_name() + "." + std::to_string(getpid());
  // A new file per writer: a second writer in the same second and process gets ".1", ".2", ...
  for (int n = 0; file_.fd < 0; ++n) {
    path_ = n == 0 ? base : base + "." + std::to_string(n);
    file_.fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (file_.fd < 0 && (errno != EEXIST || n >= 1000))
      throw Error("tensorboard", path_ + ": cannot create the event file: " + std::strerror(errno) +
                                     "; check that " + dir + " is writable");
  }
  ProtoWriter event;
  event.float64(kEventWallTime, unix_now());
  event.int64(kEventStep, 0);
  event.bytes(kEventFileVersion, "brain.Event:2");
  append(event.data());
}

EventWriter::File::~File() {
  if (fd >= 0) ::close(fd);
}

void EventWriter::scalar(const std::string& tag, int64_t step, double value, double wall_time) {
  const std::string event = scalar_event(tag, step, static_cast<float>(value), wall_time);
  std::lock_guard lock(mu_);
  last_step_ = step;
  append(event);
}

void EventWriter::hparams(const nlohmann::json& hparams,
                          const std::vector<std::string>& metric_tags) {
  if (!hparams.is_object())
    throw Error("tensorboard", "hparams must be a JSON object of name: value, got " +
                                   std::string(hparams.type_name()) +
                                   "; pass the run's settings as an object");
  const double now = unix_now();
  ProtoWriter experiment, start;
  for (auto it = hparams.begin(); it != hparams.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    ProtoWriter info, value, entry;
    info.bytes(kHParamInfoName, name);
    if (v.is_boolean()) {
      info.varint(kHParamInfoType, kTypeBool);
      value.boolean(kBoolValue, v.get<bool>());
    } else if (v.is_number()) {
      info.varint(kHParamInfoType, kTypeFloat64);
      value.float64(kNumberValue, v.get<double>());
    } else {
      info.varint(kHParamInfoType, kTypeString);
      value.bytes(kStringValue, v.is_string() ? v.get<std::string>() : v.dump());
    }
    experiment.message(kExperimentHParamInfos, info);
    entry.bytes(kEntryKey, name);
    entry.message(kEntryValue, value);
    start.message(kStartHParams, entry);
  }
  for (const std::string& tag : metric_tags) {
    ProtoWriter metric_name, info;
    metric_name.bytes(kMetricNameTag, tag);  // group "": the session's own run
    info.message(kMetricInfoName, metric_name);
    experiment.message(kExperimentMetricInfos, info);
  }
  experiment.float64(kExperimentTimeCreated, now);
  start.float64(kStartTime, now);

  ProtoWriter experiment_data, start_data;
  experiment_data.message(kPluginExperiment, experiment);
  start_data.message(kPluginSessionStart, start);
  std::lock_guard lock(mu_);
  write_summary_event(hparams_summary("_hparams_/experiment", experiment_data));
  write_summary_event(hparams_summary("_hparams_/session_start_info", start_data));
}

void EventWriter::session_end(SessionStatus status) {
  ProtoWriter end, data;
  end.varint(kEndStatus, static_cast<uint64_t>(status));
  end.float64(kEndTime, unix_now());
  data.message(kPluginSessionEnd, end);
  std::lock_guard lock(mu_);
  write_summary_event(hparams_summary("_hparams_/session_end_info", data));
}

void EventWriter::write_summary_event(const std::string& summary) {
  ProtoWriter event;
  event.float64(kEventWallTime, unix_now());
  event.int64(kEventStep, last_step_);
  event.bytes(kEventSummary, summary);
  append(event.data());
}

void EventWriter::append(const std::string& event) {
  const std::string record = frame_record(event);
  size_t done = 0;
  while (done < record.size()) {
    const ssize_t n = ::write(file_.fd, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error("tensorboard", path_ + ": write failed: " +
                                     std::string(n < 0 ? std::strerror(errno) : "no progress") +
                                     "; check the free space of the run folder");
    done += static_cast<size_t>(n);
  }
}

}  // namespace scaledl
