// Record sets: packing a SampleSource into shards on several threads, the manifest, and the
// SampleSource that reads a packed folder back.
#include "data/record_set.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/atomic_file.h"
#include "core/crc32c.h"
#include "core/error.h"
#include "core/log.h"
#include "data/record.h"
#include "data/record_internal.h"

namespace scaledl {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The manifest's checksum spelling: 8 hex digits without "0x".
std::string hex8(uint32_t v) {
  return hex32(v).substr(2);
}

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// 1234567 -> "1,234,567".
std::string with_commas(uint64_t v) {
  const std::string s = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

// Contiguous [begin, end) ranges, each cut once its samples' stored bytes reach `shard_bytes`.
std::vector<std::pair<int64_t, int64_t>> plan_shards(const SampleSource& src,
                                                     uint64_t shard_bytes) {
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t begin = 0;
  uint64_t sum = 0;
  for (int64_t i = 0; i < src.size(); ++i) {
    sum += src.stored_bytes(i);
    if (sum >= shard_bytes) {
      out.emplace_back(begin, i + 1);
      begin = i + 1;
      sum = 0;
    }
  }
  if (begin < src.size()) out.emplace_back(begin, src.size());
  return out;
}

void require_empty_dir(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec))
      throw Error("data", dir + " exists and is not a folder; choose an empty folder to pack into");
    if (!fs::is_empty(dir, ec))
      throw Error("data", dir +
                              " is not empty; choose an empty folder to pack into (packing "
                              "never overwrites a data set)");
  }
  fs::create_directories(dir, ec);
  if (ec) throw Error("io", dir + ": cannot create: " + ec.message() + "; check the path");
}

// Shared state of one pack_records call.
struct Packing {
  Packing(const SampleSource& s, std::string d, std::string p, uint64_t shard_bytes)
      : src(s),
        dir(std::move(d)),
        prefix(std::move(p)),
        ranges(plan_shards(s, shard_bytes)),
        classes(s.classes()),
        infos(ranges.size()),
        class_counts(ranges.size()) {}

  const SampleSource& src;
  std::string dir, prefix;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  int classes = 0;
  std::vector<ShardInfo> infos;
  std::vector<std::vector<int64_t>> class_counts;  // per shard
  std::atomic<size_t> next_shard{0};
  std::atomic<int64_t> samples_done{0}, shards_done{0};
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<bool> stop{false};
  std::mutex error_mu;
  std::exception_ptr error;

  std::string shard_name(size_t s) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "-%05zu.rec", s);
    return prefix + buf;
  }

  void pack_shard(size_t s, Record& rec, std::vector<uint8_t>& scratch) {
    ShardWriter writer((fs::path(dir) / shard_name(s)).string());
    std::vector<int64_t>& counts = class_counts[s];
    counts.assign(static_cast<size_t>(std::max(classes, 0)), 0);
    for (int64_t i = ranges[s].first; i < ranges[s].second; ++i) {
      if (stop) return;  // the unfinished writer removes its temporaries
      bytes_done += src.read(i, rec, scratch);
      const int32_t label = rec.labels.empty() ? -1 : rec.labels[0];
      if (label < 0 || (classes > 0 && label >= classes))
        throw Error("data", src.describe() + ": sample " + std::to_string(i) + " ('" + rec.key +
                                "') has label " + std::to_string(label) + ", outside 0.." +
                                std::to_string(classes - 1) + "; fix the data source");
      if (static_cast<size_t>(label) >= counts.size())
        counts.resize(static_cast<size_t>(label) + 1);
      ++counts[static_cast<size_t>(label)];
      writer.add(rec);
      ++samples_done;
    }
    infos[s] = writer.finish();
    ++shards_done;
  }

  void worker() {
    Record rec;
    std::vector<uint8_t> scratch;
    try {
      for (size_t s; !stop && (s = next_shard++) < ranges.size();) pack_shard(s, rec, scratch);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (!error) error = std::current_exception();
      stop = true;
    }
  }

  std::string progress_line(double seconds) const {
    const int64_t done = samples_done, total = src.size();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    const double mbps = seconds > 0 ? static_cast<double>(bytes_done) / seconds / 1e6 : 0;
    const auto eta = static_cast<int64_t>(rate > 0 ? static_cast<double>(total - done) / rate : 0);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f MB/s, ", mbps);
    return "pack: " + std::to_string(done) + "/" + std::to_string(total) + " samples, " +
           std::to_string(shards_done.load()) + "/" + std::to_string(ranges.size()) + " shards, " +
           buf + with_commas(static_cast<uint64_t>(rate)) + " samples/s, ETA " +
           std::to_string(eta / 60) + "m" + std::to_string(eta % 60) + "s";
  }
};

}  // namespace

nlohmann::json pack_records(const SampleSource& src, const std::string& dst_dir,
                            const PackOptions& options) {
  if (options.shard_bytes == 0) throw Error("data", "pack: the shard size must be above 0 bytes");
  if (options.prefix.empty() || options.prefix.find('/') != std::string::npos)
    throw Error("data", "pack: shard prefix '" + options.prefix + "' must be a plain file name");
  require_empty_dir(dst_dir);
  Packing p(src, dst_dir, options.prefix, options.shard_bytes);

  int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = static_cast<int>(std::clamp<size_t>(static_cast<size_t>(std::max(threads, 1)), 1,
                                                std::max<size_t>(p.ranges.size(), 1)));
  const auto start = Clock::now();
  std::atomic<int> running{threads};
  std::vector<std::thread> pool;
  try {
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&p, &running] {
        p.worker();
        --running;
      });
  } catch (...) {  // no thread to be had: stop the ones started before rethrowing
    p.stop = true;
    for (std::thread& t : pool) t.join();
    throw;
  }
  auto last = start;
  while (running > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto now = Clock::now();
    if (options.progress && now - last >= std::chrono::milliseconds(500)) {
      last = now;
      log_progress(p.progress_line(std::chrono::duration<double>(now - start).count()));
    }
  }
  for (std::thread& t : pool) t.join();
  if (p.error) std::rethrow_exception(p.error);
  if (options.progress)
    log_progress(p.progress_line(std::chrono::duration<double>(Clock::now() - start).count()),
                 true);

  std::vector<std::string> names = src.class_names();
  std::vector<int64_t> counts(static_cast<size_t>(std::max(p.classes, 0)), 0);
  for (const auto& c : p.class_counts) {
    if (c.size() > counts.size()) counts.resize(c.size(), 0);
    for (size_t k = 0; k < c.size(); ++k) counts[k] += c[k];
  }
  for (size_t k = names.size(); k < counts.size(); ++k) names.push_back(std::to_string(k));
  nlohmann::json shards = nlohmann::json::array();
  uint64_t total = 0;
  for (const ShardInfo& s : p.infos) {
    shards.push_back({{"file", s.file},
                      {"index", s.index_file},
                      {"records", s.records},
                      {"bytes", s.bytes},
                      {"crc32c", hex8(s.crc32c)}});
    total += s.bytes;
  }
  nlohmann::json manifest = {{"format", "scaledl-records"}, {"version", kRecordSetVersion},
                             {"source", src.describe()},    {"classes", names},
                             {"samples", src.size()},       {"bytes", total},
                             {"class_counts", counts},      {"shards", shards},
                             {"created", iso_now()}};
  write_file_atomic((fs::path(dst_dir) / "manifest.json").string(), manifest.dump(2) + "\n");
  return manifest;
}

nlohmann::json read_manifest(const std::string& dir) {
  const std::string path = (fs::path(dir) / "manifest.json").string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(path, ec))
      throw Error("data",
                  dir + " has no manifest.json; is it a folder made by `scaledl data pack`?");
    throw Error("data", path + ": cannot read it; check its permissions");
  }
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(text.str());
    const auto format = m.at("format").get<std::string>();
    if (format != "scaledl-records")
      throw Error("data", path + ": format '" + format +
                              "' is not scaledl-records; point at a "
                              "folder made by `scaledl data pack`");
    const int version = m.at("version").get<int>();
    if (version > kRecordSetVersion)
      throw Error("data", path + ": written by a newer scaledl (record set version " +
                              std::to_string(version) + "; this build reads up to " +
                              std::to_string(kRecordSetVersion) + "); upgrade scaledl");
    if (version < 1)
      throw Error("data", path + ": version " + std::to_string(version) + " does not exist");
    m.at("classes").get<std::vector<std::string>>();
    m.at("samples").get<int64_t>();
    for (const auto& s : m.at("shards")) {
      const auto file = s.at("file").get<std::string>();
      if (file.empty() || file.find('/') != std::string::npos || file == "..")
        throw Error("data", path + ": shard file '" + file + "' is not a plain file name");
      s.at("records").get<int64_t>();
      s.at("bytes").get<uint64_t>();
      s.at("crc32c").get<std::string>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error("data", path + ": not a valid record-set manifest (" + e.what() +
                            "); re-pack the data set with `scaledl data pack`");
  }
  return m;
}

namespace {

// Every shard stays open (one pread per sample, no reopen): ImageNet at 64 MB shards is ~2,200
// descriptors, past the usual soft limit of 1,024. Raise the soft limit towards the hard one.
void reserve_descriptors(size_t shards) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t want = static_cast<rlim_t>(shards) + 256;  // the rest of the process's files
  if (lim.rlim_cur >= want) return;
  lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? want : std::min(want, lim.rlim_max);
  setrlimit(RLIMIT_NOFILE, &lim);  // best effort: a failure shows as EMFILE, explained there
}

class RecordSource : public SampleSource {
 public:
  explicit RecordSource(const std::string& dir) : dir_(dir) {
    const nlohmann::json m = read_manifest(dir);
    reserve_descriptors(m.at("shards").size());
    const std::string manifest = (fs::path(dir) / "manifest.json").string();
    names_ = m.at("classes").get<std::vector<std::string>>();
    starts_.push_back(0);
    for (const auto& s : m.at("shards")) {
      const auto file = s.at("file").get<std::string>();
      // The reader finds the index by the shard's stem; a manifest naming another one is damaged.
      if (s.contains("index") && s["index"] != file.substr(0, file.size() - 4) + ".idx")
        throw Error("data", manifest + ": shard " + file + " lists index " + s["index"].dump() +
                                ", not its own; re-pack the data set with `scaledl data pack`");
      auto r = std::make_unique<ShardReader>((fs::path(dir) / file).string());
      const auto want = s.at("records").get<int64_t>();
      if (r->size() != want)
        throw Error("data", r->path() + " holds " + std::to_string(r->size()) + " records but " +
                                manifest + " says " + std::to_string(want) +
                                "; re-pack the data set with `scaledl data pack`");
      starts_.push_back(starts_.back() + r->size());
      shards_.push_back(std::move(r));
    }
    if (starts_.back() != m.at("samples").get<int64_t>())
      throw Error("data", manifest + ": the shards hold " + std::to_string(starts_.back()) +
                              " records but \"samples\" says " +
                              std::to_string(m.at("samples").get<int64_t>()) +
                              "; re-pack the data set with `scaledl data pack`");
  }

  int64_t size() const override { return starts_.back(); }
  int classes() const override { return static_cast<int>(names_.size()); }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::string key(int64_t i) const override {
    auto [s, j] = locate(i);
    return shards_[s]->key(j);
  }
  int32_t label(int64_t i) const override {
    auto [s, j] = locate(i);
    return shards_[s]->label(j);
  }
  uint64_t stored_bytes(int64_t i) const override {
    auto [s, j] = locate(i);
    const ShardReader& r = *shards_[s];
    return (j + 1 < r.size() ? r.offset(j + 1) : r.file_bytes()) - r.offset(j);
  }
  uint64_t read(int64_t i, Record& out, std::vector<uint8_t>& scratch) const override {
    auto [s, j] = locate(i);
    return shards_[s]->read(j, out, scratch);
  }
  std::string where(int64_t i) const override {
    auto [s, j] = locate(i);
    const ShardReader& r = *shards_[s];
    return record_detail::record_where(r.path(), j, r.offset(j)) + " (" + r.key(j) + ")";
  }
  std::string describe() const override {
    return "records:" + dir_ + " (" + std::to_string(shards_.size()) + " shards, " +
           std::to_string(size()) + " samples)";
  }

 private:
  // Global sample -> (shard, record in shard), by binary search on the cumulative counts.
  std::pair<size_t, int64_t> locate(int64_t i) const {
    if (i < 0 || i >= size())
      throw Error("data", describe() + ": sample " + std::to_string(i) + " does not exist");
    const auto it = std::upper_bound(starts_.begin(), starts_.end(), i) - 1;
    return {static_cast<size_t>(it - starts_.begin()), i - *it};
  }

  std::string dir_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<ShardReader>> shards_;
  std::vector<int64_t> starts_;  // starts_[s] = first global sample of shard s; back() = size
};

}  // namespace

SourcePtr open_records(const std::string& dir) {
  return std::make_shared<RecordSource>(dir);
}

namespace {
std::vector<uint8_t> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error("data", path + ": cannot open; the data set is incomplete; re-pack it");
  std::vector<uint8_t> bytes(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw Error("io", path + ": read failed; check the disk");
  return bytes;
}
}  // namespace

int64_t verify_records(const std::string& dir, bool deep) {
  const nlohmann::json m = read_manifest(dir);
  int64_t checked = 0;
  for (const auto& s : m.at("shards")) {
    const std::string path = (fs::path(dir) / s.at("file").get<std::string>()).string();
    const ShardReader reader(path);  // header and index: present, intact, inside the shard
    const std::vector<uint8_t> bytes = read_whole(path);
    const std::string crc = hex8(crc32c(bytes.data(), bytes.size()));
    const bool intact =
        bytes.size() == s.at("bytes").get<uint64_t>() && crc == s.at("crc32c").get<std::string>();
    if (!intact || deep) {
      // Name the first bad record (shard, record number, byte offset) where there is one.
      const int64_t n = for_each_record(bytes.data(), bytes.size(), path,
                                        [](int64_t, uint64_t, const Record&) {});
      if (n != s.at("records").get<int64_t>() || n != reader.size())
        throw Error("data", path + ": holds " + std::to_string(n) +
                                " records but the manifest "
                                "says " +
                                std::to_string(s.at("records").get<int64_t>()) +
                                "; re-pack the data set with `scaledl data pack`");
    }
    if (!intact)
      throw Error("data",
                  path + ": " + std::to_string(bytes.size()) + " bytes with CRC32C " + crc +
                      ", but the manifest says " + std::to_string(s.at("bytes").get<uint64_t>()) +
                      " bytes with " + s.at("crc32c").get<std::string>() +
                      "; the shard is damaged; re-pack the data set with `scaledl data pack`");
    ++checked;
  }
  return checked;
}

}  // namespace scaledl
