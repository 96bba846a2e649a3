// TensorBoard event files, written without TensorFlow or protobuf: each Event is hand-encoded
// (telemetry/proto_writer.h) and framed as a TFRecord (uint64 length LE, masked CRC32C of the
// length, data, masked CRC32C of the data). Scalars go in as Summary.Value.simple_value; the
// hyperparameters as the hparams plugin's experiment, session_start_info and session_end_info,
// so a run shows in TensorBoard's Scalars and HParams dashboards, live (each record is written
// with one write(2) as it comes; nothing is buffered in the process).
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "telemetry/run_status.h"

namespace scaledl {

// How a training session ended, as the HParams dashboard shows it (tensorboard.hparams.Status).
enum class SessionStatus { unknown = 0, success = 1, failure = 2, running = 3 };

// The TFRecord checksum: CRC32C rotated right by 15 bits plus 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t n);

// One TFRecord: the 8-byte length, its masked CRC32C, `data`, the masked CRC32C of `data`.
std::string frame_record(std::string_view data);

// An Event (wall_time 1, step 2, summary 5) holding one scalar (tag 1, simple_value 2): the
// record payload EventWriter::scalar writes.
std::string scalar_event(const std::string& tag, int64_t step, float value, double wall_time);

// Appends events to dir/events.out.tfevents.<unix seconds>.<hostname>.<pid> (".<n>" added if
// that name is taken), a new file per writer, starting with file_version "brain.Event:2".
// Thread-safe. Errors (a missing or unwritable folder, a failed write) throw
// Error("tensorboard", ...).
class EventWriter {
 public:
  explicit EventWriter(const std::string& dir);
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // One point of the scalar `tag` (stored as a float32, as TensorBoard keeps scalars).
  void scalar(const std::string& tag, int64_t step, double value, double wall_time = unix_now());
  // The run's hyperparameters for the HParams dashboard: an experiment (one hparam info per key
  // of the JSON object `hparams`, one metric info per scalar tag in `metric_tags`) and the
  // session's start with the values. Strings, numbers and bools are written as such; any other
  // value (array, object, null) as its JSON text. Written at the latest step seen.
  void hparams(const nlohmann::json& hparams, const std::vector<std::string>& metric_tags);
  // The session's end and how it ended (optional; the dashboard shows the status).
  void session_end(SessionStatus status);

  const std::string& path() const { return path_; }

 private:
  // Writes an Event holding `summary` (an encoded Summary) at the latest step.
  void write_summary_event(const std::string& summary);
  // Frames `event` (an encoded Event) and appends it in one write(2) (more after a partial one).
  void append(const std::string& event);

  // The event file's descriptor, closed with the writer (also when its constructor throws).
  struct File {
    int fd = -1;
    File() = default;
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    ~File();
  };

  std::mutex mu_;
  std::string path_;
  File file_;
  int64_t last_step_ = 0;
};

}  // namespace scaledl
