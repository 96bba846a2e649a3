// TensorBoard event files: the TFRecord framing against a bitwise CRC32C written here and
// against bytes made by TensorBoard's own RecordWriter, the writer's file and errors, and the
// real reader: tests/telemetry/read_tb_events.py (TensorBoard's EventAccumulator and hparams
// plugin, from scripts/checkers_venv) reads a run we wrote, whole and with one flipped byte.
#include "telemetry/tb_events.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "cli/run_cli.h"
#include "core/error.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;

// CRC32C bit by bit (reflected polynomial 0x82F63B78), independent of ISA-L.
uint32_t reference_crc32c(std::string_view s) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char c : s) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t reference_masked(std::string_view s) {
  const uint32_t crc = reference_crc32c(s);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

template <class T>
T load_le(const std::string& b, size_t at) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<T>(static_cast<unsigned char>(b[at + i])) << (8 * i);
  return v;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Record {
  size_t data_offset;
  std::string data;
};

// Splits a TFRecord file, checking both checksums of every record with the reference CRC.
std::vector<Record> read_records(const std::string& file) {
  std::vector<Record> out;
  size_t at = 0;
  while (at < file.size()) {
    EXPECT_LE(at + 12, file.size());
    const uint64_t len = load_le<uint64_t>(file, at);
    EXPECT_EQ(load_le<uint32_t>(file, at + 8), reference_masked(file.substr(at, 8)));
    EXPECT_LE(at + 16 + len, file.size());
    Record r{at + 12, file.substr(at + 12, len)};
    EXPECT_EQ(load_le<uint32_t>(file, at + 12 + len), reference_masked(r.data));
    out.push_back(std::move(r));
    at += 16 + len;
  }
  return out;
}

std::vector<fs::path> event_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) out.push_back(e.path());
  return out;
}

TEST(TbEvents, MaskedCrc32cMatchesTensorBoardAndTheBitwiseReference) {
  // Constants from tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c.
  EXPECT_EQ(masked_crc32c("123456789", 9), 0xc78ab0e5u);
  EXPECT_EQ(masked_crc32c("", 0), 0xa282ead8u);
  const std::string zeros(8, '\0');
  EXPECT_EQ(masked_crc32c(zeros.data(), zeros.size()), 0x07980329u);
  std::string bytes;
  for (int i = 0; i < 1000; ++i) {
    bytes.push_back(static_cast<char>((i * 131 + 7) & 0xff));
    if (i % 97 == 0 || i < 20) {
      EXPECT_EQ(masked_crc32c(bytes.data(), bytes.size()), reference_masked(bytes)) << i;
    }
  }
}

TEST(TbEvents, ScalarRecordMatchesTensorBoardsRecordWriter) {
  // tensorboard.summary.writer.record_writer.RecordWriter writing
  // Event(wall_time=1.5, step=3, summary=Summary(value=[Value(tag="loss", simple_value=0.25)])).
  EXPECT_EQ(frame_record(scalar_event("loss", 3, 0.25f, 1.5)),
            from_hex("1a00000000000000129bd82d09000000000000f83f10032a0d0a0b0a046c6f7373150000803e"
                     "d054b255"));
  // Event(wall_time=1.5, step=-2, ... simple_value=-1e-30).SerializeToString(): a negative
  // int64 takes ten varint bytes.
  EXPECT_EQ(scalar_event("loss", -2, -1e-30f, 1.5),
            from_hex("09000000000000f83f10feffffffffffffffff012a0d0a0b0a046c6f7373156042a28d"));
}

TEST(TbEvents, WriterStartsWithTheFileVersionAndWritesEachRecordAtOnce) {
  const fs::path dir = testing::test_temp_dir("tb");
  EventWriter w(dir.string());
  const std::vector<fs::path> files = event_files(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].string(), w.path());
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_TRUE(std::regex_match(files[0].filename().string(),
                               std::regex("events\\.out\\.tfevents\\.[0-9]{10}\\." +
                                          std::string(host) + "\\." + std::to_string(getpid()))))
      << files[0];
  std::vector<Record> r = read_records(read_file(files[0]));
  ASSERT_EQ(r.size(), 1u);
  // wall_time (field 1, fixed64), step 0 (field 2), file_version (field 3).
  ASSERT_EQ(r[0].data.size(), 9u + 2u + 15u);
  EXPECT_EQ(r[0].data[0], '\x09');
  EXPECT_NEAR(std::bit_cast<double>(load_le<uint64_t>(r[0].data, 1)), unix_now(), 60);
  EXPECT_EQ(r[0].data.substr(9), from_hex("1000") + from_hex("1a0d") + "brain.Event:2");

  w.scalar("loss", 3, 0.25, 1.5);  // readable before the writer closes: nothing is buffered
  r = read_records(read_file(files[0]));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].data, scalar_event("loss", 3, 0.25f, 1.5));
}

TEST(TbEvents, TwoWritersInTheSameFolderWriteTwoFiles) {
  const fs::path dir = testing::test_temp_dir("tb");
  EventWriter a(dir.string()), b(dir.string());
  EXPECT_NE(a.path(), b.path());
  EXPECT_EQ(event_files(dir).size(), 2u);
}

TEST(TbEvents, AMissingOrUnwritableFolderIsAUserError) {
  const fs::path dir = testing::test_temp_dir("tb") / "missing";
  try {
    EventWriter w(dir.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "tensorboard");
    EXPECT_NE(e.message().find(dir.string()), std::string::npos) << e.what();
  }
  try {
    EventWriter w("/proc");  // a folder no one can create files in, root included
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "tensorboard");
    EXPECT_NE(e.message().find("cannot create"), std::string::npos) << e.what();
  }
  EventWriter w(testing::test_temp_dir("tb").string());
  EXPECT_THROW(w.hparams(nlohmann::json::array({1, 2}), {}), Error);
}

// The run the real reader checks: 3 tags x 50 steps (negative, tiny, subnormal and values a
// float32 rounds), hparams of each kind, a session end; `expected.json` says what it holds.
nlohmann::json write_known_run(const fs::path& run) {
  fs::create_directories(run);
  EventWriter w(run.string());
  const nlohmann::json hparams = {{"model", "resnet50"}, {"lr", 0.1},
                                  {"batch_size", 256},   {"amp", true},
                                  {"nesterov", false},   {"blocks", {3, 4, 6, 3}}};
  const std::vector<std::string> metrics = {"train/loss", "eval/top1"};
  w.hparams(hparams, metrics);
  nlohmann::json scalars = nlohmann::json::object();
  for (int64_t step = 0; step < 50; ++step) {
    const double wall = 1.7e9 + 0.5 * static_cast<double>(step);
    const double loss = 2.3 * std::exp(-0.07 * static_cast<double>(step)) + 0.1;
    const double delta = -0.37 * static_cast<double>(step - 20);  // negative, zero, positive
    const double lr = (step % 2 ? 1e-38 : 3e-7) / static_cast<double>(step + 1);  // subnormals
    const std::vector<std::pair<std::string, double>> points = {
        {"train/loss", loss}, {"eval/top1", delta}, {"train/lr", lr}};
    for (const auto& [tag, v] : points) {
      w.scalar(tag, step, v, wall);
      scalars[tag].push_back({step, v, wall});
    }
  }
  w.session_end(SessionStatus::success);
  return {{"scalars", scalars},
          {"hparams", hparams},
          {"metric_tags", metrics},
          {"session_end_status", static_cast<int>(SessionStatus::success)}};
}

TEST(TbEvents, TensorBoardReadsOurScalarsAndHParams) {
  const std::string python = std::string(SCALEDL_SOURCE_DIR) + "/.venv-checkers/bin/python";
  if (access(python.c_str(), X_OK) != 0)
    GTEST_SKIP() << python << " is missing: run scripts/checkers_venv to check our events "
                 << "with TensorBoard's reader";
  const std::string reader = std::string(SCALEDL_SOURCE_DIR) + "/tests/telemetry/read_tb_events.py";
  const fs::path dir = testing::test_temp_dir("tb");
  const nlohmann::json expected = write_known_run(dir / "run");
  std::ofstream(dir / "expected.json") << expected.dump();

  testing::CliResult r = testing::run_command(python + " " + reader + " " + (dir / "run").string() +
                                              " " + (dir / "expected.json").string() + " 2>&1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("OK: 150 scalars"), std::string::npos) << r.out;

  // One flipped byte inside a scalar's float (the last bytes of its Event): TensorBoard's
  // reader must drop the record (and, in its reader, what follows), never return a wrong value.
  const fs::path file = event_files(dir / "run").at(0);
  std::string bytes = read_file(file);
  const std::vector<Record> records = read_records(bytes);
  ASSERT_EQ(records.size(), 1u + 2u + 150u + 1u);  // version, hparams, scalars, session end
  const Record& victim = records[3 + 75];          // the 76th scalar
  ASSERT_EQ(victim.data.substr(victim.data.size() - 5, 1), "\x15");  // simple_value's key
  bytes[victim.data_offset + victim.data.size() - 2] ^= 0x40;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  r = testing::run_command(python + " " + reader + " " + (dir / "run").string() + " " +
                           (dir / "expected.json").string() + " --corrupt 2>&1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("OK: dropped the corrupt record"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace scaledl
