// The system monitor: /proc parsers, readings turned into rates, NVML through dlopen, the
// summary of a run's samples and the sampler thread.
#include "telemetry/monitor.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <fstream>
#include <sstream>
#include <type_traits>

#include "core/error.h"
#include "core/log.h"
#include "telemetry/run_status.h"

namespace scaledl {

namespace {
constexpr double kMB = 1e6;
constexpr uint64_t kSectorBytes = 512;  // diskstats counts 512-byte sectors on every device

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool to_u64(std::string_view s, uint64_t& v) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

// Calls f(line) for each line of `text`.
template <typename F>
void each_line(std::string_view text, F f) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    f(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The kernel names a partition after its disk: plus the number, or plus "p" and the number when
// the disk's name ends in a digit (sda1, nvme0n1p1, mmcblk0p1).
bool is_partition_of(std::string_view part, std::string_view disk) {
  if (part.size() <= disk.size() || part.substr(0, disk.size()) != disk) return false;
  std::string_view rest = part.substr(disk.size());
  if (disk.back() >= '0' && disk.back() <= '9') {
    if (rest.front() != 'p') return false;
    rest.remove_prefix(1);
  }
  return all_digits(rest);
}

bool is_virtual_disk(std::string_view name) {
  for (std::string_view prefix : {"loop", "ram", "zram", "dm-", "md"})
    if (name.substr(0, prefix.size()) == prefix) return true;
  return false;
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

// A counter's growth; one that went down was reset and counts from zero.
uint64_t growth(uint64_t before, uint64_t after) {
  return after >= before ? after - before : after;
}

}  // namespace

// ---- parsers ----

std::map<std::string, NetCounters> parse_proc_net_dev(std::string_view text) {
  std::map<std::string, NetCounters> out;
  each_line(text, [&](std::string_view line) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || line.find('|') != std::string_view::npos) return;
    const auto name = words(line.substr(0, colon));
    const auto f = words(line.substr(colon + 1));
    NetCounters c;
    // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes ...
    if (name.size() != 1 || f.size() < 9 || !to_u64(f[0], c.rx_bytes) || !to_u64(f[8], c.tx_bytes))
      return;
    out[std::string(name[0])] = c;
  });
  return out;
}

std::map<std::string, DiskCounters> parse_proc_diskstats(std::string_view text) {
  std::map<std::string, DiskCounters> all;
  each_line(text, [&](std::string_view line) {
    // major minor name reads merged sectors_read ms writes merged sectors_written ...
    const auto f = words(line);
    DiskCounters c;
    if (f.size() < 10 || !to_u64(f[5], c.sectors_read) || !to_u64(f[9], c.sectors_written)) return;
    all[std::string(f[2])] = c;
  });
  std::map<std::string, DiskCounters> out;
  for (const auto& [name, c] : all) {
    if (is_virtual_disk(name)) continue;
    const bool partition = std::any_of(
        all.begin(), all.end(), [&](const auto& d) { return is_partition_of(name, d.first); });
    if (!partition) out[name] = c;
  }
  return out;
}

std::optional<CpuTimes> parse_proc_stat(std::string_view text) {
  std::optional<CpuTimes> out;
  each_line(text, [&](std::string_view line) {
    const auto f = words(line);
    if (out || f.size() < 5 || f[0] != "cpu") return;
    // user nice system idle iowait irq softirq steal; guest and guest_nice are inside user/nice.
    CpuTimes t;
    for (size_t i = 1; i < f.size() && i <= 8; ++i) {
      uint64_t v = 0;
      if (!to_u64(f[i], v)) return;
      t.total += v;
      if (i == 4 || i == 5) t.idle += v;
    }
    out = t;
  });
  return out;
}

std::optional<uint64_t> parse_proc_self_stat(std::string_view text) {
  // pid (comm) state ...: comm may hold spaces and parentheses, so fields count from the last ')'.
  const size_t paren = text.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  const auto f = words(text.substr(paren + 1));
  uint64_t utime = 0, stime = 0;  // fields 14 and 15; f[0] is field 3 (state)
  if (f.size() < 13 || !to_u64(f[11], utime) || !to_u64(f[12], stime)) return std::nullopt;
  return utime + stime;
}

std::optional<uint64_t> parse_proc_self_status(std::string_view text) {
  std::optional<uint64_t> out;
  each_line(text, [&](std::string_view line) {
    const auto f = words(line);
    uint64_t kb = 0;
    if (!out && f.size() >= 2 && f[0] == "VmRSS:" && to_u64(f[1], kb)) out = kb * 1024;
  });
  return out;
}

// ---- samples ----

nlohmann::json MonitorSample::to_json() const {
  nlohmann::json j = {{"time", time},
                      {"interval_s", interval_s},
                      {"cpu_process_pct", cpu_process_pct},
                      {"cpu_machine_pct", cpu_machine_pct},
                      {"rss_mb", rss_mb},
                      {"disk_read_mb_s", disk_read_mb_s},
                      {"disk_write_mb_s", disk_write_mb_s}};
  nlohmann::json nets = nlohmann::json::object();
  for (const NetSample& n : net)
    nets[n.name] = {{"rx_mb_s", n.rx_mb_s},
                    {"tx_mb_s", n.tx_mb_s},
                    {"rx_bytes_total", n.rx_bytes_total},
                    {"tx_bytes_total", n.tx_bytes_total}};
  j["net"] = std::move(nets);
  if (gpus.empty()) return j;
  nlohmann::json gs = nlohmann::json::array();
  for (const GpuSample& g : gpus) {
    nlohmann::json o = {{"index", g.index}};
    if (g.util_pct) o["util_pct"] = *g.util_pct;
    if (g.mem_used_mb) o["mem_used_mb"] = *g.mem_used_mb;
    if (g.mem_total_mb) o["mem_total_mb"] = *g.mem_total_mb;
    if (g.power_w) o["power_w"] = *g.power_w;
    gs.push_back(std::move(o));
  }
  j["gpus"] = std::move(gs);
  return j;
}

std::vector<std::pair<std::string, double>> monitor_scalars(const MonitorSample& s) {
  std::vector<std::pair<std::string, double>> out = {{"system/cpu_process_pct", s.cpu_process_pct},
                                                     {"system/cpu_machine_pct", s.cpu_machine_pct},
                                                     {"system/rss_mb", s.rss_mb},
                                                     {"system/disk_read_mb_s", s.disk_read_mb_s},
                                                     {"system/disk_write_mb_s", s.disk_write_mb_s}};
  for (const NetSample& n : s.net) {
    out.emplace_back("net/" + n.name + "/rx_mb_s", n.rx_mb_s);
    out.emplace_back("net/" + n.name + "/tx_mb_s", n.tx_mb_s);
  }
  for (const GpuSample& g : s.gpus) {
    const std::string p = "gpu" + std::to_string(g.index) + "/";
    if (g.util_pct) out.emplace_back(p + "util_pct", *g.util_pct);
    if (g.mem_used_mb) out.emplace_back(p + "mem_used_mb", *g.mem_used_mb);
    if (g.power_w) out.emplace_back(p + "power_w", *g.power_w);
  }
  return out;
}

// ---- readings ----

ProcReading read_proc(const std::string& root) {
  ProcReading r;
  if (auto t = read_text(root + "/self/stat"))
    r.process_ticks = parse_proc_self_stat(*t).value_or(0);
  if (auto t = read_text(root + "/self/status"))
    r.rss_bytes = parse_proc_self_status(*t).value_or(0);
  if (auto t = read_text(root + "/stat")) r.machine = parse_proc_stat(*t).value_or(CpuTimes{});
  if (auto t = read_text(root + "/diskstats")) r.disks = parse_proc_diskstats(*t);
  if (auto t = read_text(root + "/net/dev")) r.net = parse_proc_net_dev(*t);
  return r;
}

ProcSampler::ProcSampler(std::string root, double ticks_per_s)
    : root_(std::move(root)),
      ticks_per_s_(ticks_per_s > 0 ? ticks_per_s : static_cast<double>(sysconf(_SC_CLK_TCK))),
      prev_(read_proc(root_)) {}

MonitorSample ProcSampler::next(double seconds, double unix_time) {
  ProcReading cur = read_proc(root_);
  MonitorSample s;
  s.time = unix_time;
  s.interval_s = seconds;
  const auto per_s = [&](double v) { return seconds > 0 ? v / seconds : 0.0; };
  s.cpu_process_pct =
      100 *
      per_s(static_cast<double>(growth(prev_.process_ticks, cur.process_ticks)) / ticks_per_s_);
  const uint64_t total = growth(prev_.machine.total, cur.machine.total);
  const uint64_t idle = std::min(growth(prev_.machine.idle, cur.machine.idle), total);
  s.cpu_machine_pct = total > 0 ? 100.0 * static_cast<double>(total - idle) / total : 0;
  s.rss_mb = static_cast<double>(cur.rss_bytes) / kMB;
  uint64_t read = 0, written = 0;
  for (const auto& [name, c] : cur.disks) {
    const auto it = prev_.disks.find(name);
    if (it == prev_.disks.end()) continue;
    read += growth(it->second.sectors_read, c.sectors_read);
    written += growth(it->second.sectors_written, c.sectors_written);
  }
  s.disk_read_mb_s = per_s(static_cast<double>(read * kSectorBytes) / kMB);
  s.disk_write_mb_s = per_s(static_cast<double>(written * kSectorBytes) / kMB);
  for (const auto& [name, c] : cur.net) {
    NetCounters d;
    if (const auto it = prev_.net.find(name); it != prev_.net.end())
      d = {growth(it->second.rx_bytes, c.rx_bytes), growth(it->second.tx_bytes, c.tx_bytes)};
    NetCounters& t = net_totals_[name];
    t.rx_bytes += d.rx_bytes;
    t.tx_bytes += d.tx_bytes;
    s.net.push_back({name, per_s(static_cast<double>(d.rx_bytes) / kMB),
                     per_s(static_cast<double>(d.tx_bytes) / kMB), t.rx_bytes, t.tx_bytes});
  }
  prev_ = std::move(cur);
  return s;
}

// ---- NVML ----

// nvml.h's types, declared here (the header is not needed to build): nvmlReturn_t is an enum
// (NVML_SUCCESS = 0), nvmlDevice_t an opaque pointer; the structs are nvmlUtilization_t and
// nvmlMemory_t (version 1: bytes).
struct Nvml::Api {
  using Device = void*;
  struct Utilization {
    unsigned int gpu, memory;  // percent of the last sample period
  };
  struct Memory {
    unsigned long long total, free, used;
  };
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*count)(unsigned int*) = nullptr;
  int (*handle)(unsigned int, Device*) = nullptr;
  int (*utilization)(Device, Utilization*) = nullptr;
  int (*memory)(Device, Memory*) = nullptr;
  int (*power)(Device, unsigned int*) = nullptr;  // milliwatts
};

void Nvml::Close::operator()(void* handle) const {
  dlclose(handle);
}

std::unique_ptr<Nvml> Nvml::open(const std::string& library, std::string* why) {
  const auto fail = [&](const std::string& what) {
    if (why) *why = what;
    return std::unique_ptr<Nvml>();
  };
  if (library.empty()) return fail("no library named");
  Library lib(dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!lib) {
    const char* e = dlerror();
    return fail(e ? e : library + ": cannot be loaded");
  }
  auto api = std::make_unique<Api>();
  std::string missing;
  const auto resolve = [&](const char* name, auto& fn) {
    void* sym = dlsym(lib.get(), name);
    if (!sym) missing += std::string(missing.empty() ? "" : ", ") + name;
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(sym);
  };
  resolve("nvmlInit_v2", api->init);
  resolve("nvmlShutdown", api->shutdown);
  resolve("nvmlDeviceGetCount_v2", api->count);
  resolve("nvmlDeviceGetHandleByIndex_v2", api->handle);
  resolve("nvmlDeviceGetUtilizationRates", api->utilization);
  resolve("nvmlDeviceGetMemoryInfo", api->memory);
  resolve("nvmlDeviceGetPowerUsage", api->power);
  if (!missing.empty()) return fail(library + " lacks " + missing);
  if (const int r = api->init(); r != 0)
    return fail("nvmlInit_v2 returned " + std::to_string(r) + " (no driver or no GPU?)");
  return std::make_unique<Nvml>(Key{}, std::move(lib), std::move(api));
}

Nvml::Nvml(Key, Library library, std::unique_ptr<Api> api)
    : library_(std::move(library)), api_(std::move(api)) {}

Nvml::~Nvml() {
  api_->shutdown();
}

std::vector<GpuSample> Nvml::sample() const {
  std::vector<GpuSample> out;
  unsigned int n = 0;
  if (api_->count(&n) != 0) return out;
  for (unsigned int i = 0; i < n; ++i) {
    Api::Device dev = nullptr;
    if (api_->handle(i, &dev) != 0) continue;
    GpuSample g;
    g.index = static_cast<int>(i);
    Api::Utilization u{};
    if (api_->utilization(dev, &u) == 0) g.util_pct = u.gpu;
    Api::Memory m{};
    if (api_->memory(dev, &m) == 0)
      g.mem_used_mb = static_cast<double>(m.used) / kMB, g.mem_total_mb = m.total / kMB;
    unsigned int mw = 0;
    if (api_->power(dev, &mw) == 0) g.power_w = mw / 1000.0;
    out.push_back(g);
  }
  return out;
}

// ---- summary ----

void MonitorSummary::Stat::add(double v, double w, bool peak_too) {
  weighted += v * w;
  weight += w;
  if (peak_too) peak = std::max(peak, v);
}

void MonitorSummary::add(const MonitorSample& s, bool peaks) {
  ++samples_;
  const double w = s.interval_s;
  seconds_ += w;
  system_["cpu_process_pct"].add(s.cpu_process_pct, w, peaks);
  system_["cpu_machine_pct"].add(s.cpu_machine_pct, w, peaks);
  system_["rss_mb"].add(s.rss_mb, w, peaks);
  system_["disk_read_mb_s"].add(s.disk_read_mb_s, w, peaks);
  system_["disk_write_mb_s"].add(s.disk_write_mb_s, w, peaks);
  for (const NetSample& n : s.net) {
    Net& o = net_[n.name];
    o.rx.add(n.rx_mb_s, w, peaks);
    o.tx.add(n.tx_mb_s, w, peaks);
    o.bytes = {n.rx_bytes_total, n.tx_bytes_total};
  }
  for (const GpuSample& g : s.gpus) {
    auto& o = gpus_[g.index];
    if (g.util_pct) o["util_pct"].add(*g.util_pct, w, peaks);
    if (g.mem_used_mb) o["mem_used_mb"].add(*g.mem_used_mb, w, peaks);
    if (g.power_w) o["power_w"].add(*g.power_w, w, peaks);
  }
}

std::map<std::string, NetCounters> MonitorSummary::net_bytes() const {
  std::map<std::string, NetCounters> out;
  for (const auto& [name, n] : net_) out[name] = n.bytes;
  return out;
}

nlohmann::json MonitorSummary::to_json() const {
  const auto means_peaks = [](const std::map<std::string, Stat>& stats, nlohmann::json& into) {
    into["mean"] = nlohmann::json::object();
    into["peak"] = nlohmann::json::object();
    for (const auto& [k, st] : stats) into["mean"][k] = st.mean(), into["peak"][k] = st.peak;
  };
  nlohmann::json j = {{"samples", samples_}, {"seconds", seconds_}};
  means_peaks(system_, j);
  j["net"] = nlohmann::json::object();
  for (const auto& [name, n] : net_)
    j["net"][name] = {{"rx_bytes", n.bytes.rx_bytes}, {"tx_bytes", n.bytes.tx_bytes},
                      {"rx_mb_s_mean", n.rx.mean()},  {"tx_mb_s_mean", n.tx.mean()},
                      {"rx_mb_s_peak", n.rx.peak},    {"tx_mb_s_peak", n.tx.peak}};
  if (gpus_.empty()) return j;
  j["gpus"] = nlohmann::json::array();
  for (const auto& [index, stats] : gpus_) {
    nlohmann::json g = {{"index", index}};
    means_peaks(stats, g);
    j["gpus"].push_back(std::move(g));
  }
  return j;
}

// ---- the sampler thread ----

SystemMonitor::SystemMonitor(MonitorOptions options, Callback on_sample)
    : opt_(std::move(options)), on_sample_(std::move(on_sample)) {
  if (!(opt_.interval_s > 0))
    throw Error("monitor", "interval " + std::to_string(opt_.interval_s) +
                               " s is not positive; pass --monitor-interval in seconds (e.g. 1)");
}

SystemMonitor::~SystemMonitor() {
  stop();
}

void SystemMonitor::start() {
  SDL_ASSERT(!started_, "SystemMonitor::start called twice");
  started_ = true;
  std::string why;
  if (!opt_.nvml_library.empty()) nvml_ = Nvml::open(opt_.nvml_library, &why);
  static std::atomic<bool> said{false};
  if (!nvml_ && !opt_.nvml_library.empty() && !said.exchange(true))
    log_info("monitor: no GPU fields (NVML not loaded: " + why + ")");
  sampler_ = std::make_unique<ProcSampler>(opt_.proc_root);
  last_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { loop(); });
}

void SystemMonitor::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_ || stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (!failed_) take(true);
}

MonitorSummary SystemMonitor::summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  return summary_;
}

void SystemMonitor::loop() {
  using Clock = std::chrono::steady_clock;
  const auto interval =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt_.interval_s));
  Clock::time_point due = last_ + interval;
  std::unique_lock<std::mutex> lock(mu_);
  while (!failed_) {
    if (cv_.wait_until(lock, due, [this] { return stop_; })) return;
    lock.unlock();
    take(false);
    lock.lock();
    // On schedule (no drift); a reading that overran skips the ticks it missed.
    due += interval;
    if (due <= Clock::now()) due = Clock::now() + interval;
  }
}

void SystemMonitor::take(bool final) {
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  MonitorSample s = sampler_->next(seconds, unix_now());
  if (nvml_) s.gpus = nvml_->sample();
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The last, partial interval counts for peaks only when it is the run's one sample.
    summary_.add(s, !final || seconds >= opt_.interval_s / 2 || summary_.samples() == 0);
  }
  if (!on_sample_) return;
  try {
    on_sample_(s);
  } catch (const std::exception& e) {
    log_warn(std::string("monitor: ") + e.what() + "; system sampling stops here");
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = true;
  }
}

}  // namespace scaledl
