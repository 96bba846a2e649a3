// The system monitor: a sampler thread that reads the process's and the machine's counters from
// /proc (CPU, resident memory, disks, network interfaces) and, where NVML loads, the GPUs'
// utilization, memory and power, and turns consecutive readings into rates. The /proc parsers
// are pure functions of the files' text, so tests feed them fixtures; the sampler reads under a
// root folder, so tests point it at a fake /proc.
//
// Units: MB = 10^6 bytes; rates per second of the interval between two readings; CPU of the
// process in percent of one core (top's convention: 250 = two and a half cores busy), CPU of the
// machine in percent of all its cores (0..100).
//
// monitor.jsonl line (MonitorSample::to_json): {"time" (Unix s), "interval_s", "cpu_process_pct",
//   "cpu_machine_pct", "rss_mb", "disk_read_mb_s", "disk_write_mb_s",
//   "net": {IFACE: {"rx_mb_s", "tx_mb_s", "rx_bytes_total", "tx_bytes_total"}},
//   "gpus": [{"index", "util_pct", "mem_used_mb", "mem_total_mb", "power_w"}] (only with NVML;
//   a value the GPU does not report is left out)}; *_bytes_total count since the monitor started.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace scaledl {

// ---- /proc parsers (malformed lines are skipped, never thrown on) ----

struct NetCounters {
  uint64_t rx_bytes = 0, tx_bytes = 0;
};
// /proc/net/dev: bytes received and sent per interface (of the reader's network namespace).
std::map<std::string, NetCounters> parse_proc_net_dev(std::string_view text);

struct DiskCounters {
  uint64_t sectors_read = 0, sectors_written = 0;  // 512-byte units whatever the device's sector
};
// /proc/diskstats: the counters of whole physical disks only, so that no byte is counted twice.
// Left out: partitions (a name that is another listed device's name plus digits, or plus "p" and
// digits: sda1 of sda, nvme0n1p2 of nvme0n1, mmcblk0p1 of mmcblk0), whose I/O their disk also
// counts; devices stacked on disks or backed by memory or files (loop*, ram*, zram*, dm-*, md*),
// whose I/O is either counted again on the disks below or never reaches a disk.
std::map<std::string, DiskCounters> parse_proc_diskstats(std::string_view text);

struct CpuTimes {
  uint64_t total = 0;  // jiffies: user nice system idle iowait irq softirq steal
  uint64_t idle = 0;   // idle + iowait
};
// /proc/stat: the machine's "cpu" line (all cores).
std::optional<CpuTimes> parse_proc_stat(std::string_view text);
// /proc/self/stat: the process's utime + stime in clock ticks (sysconf(_SC_CLK_TCK) per second).
std::optional<uint64_t> parse_proc_self_stat(std::string_view text);
// /proc/self/status: VmRSS in bytes.
std::optional<uint64_t> parse_proc_self_status(std::string_view text);

// ---- samples ----

struct NetSample {
  std::string name;
  double rx_mb_s = 0, tx_mb_s = 0;
  uint64_t rx_bytes_total = 0, tx_bytes_total = 0;  // since the monitor started
};

// Values a GPU does not report (power on some boards) stay empty.
struct GpuSample {
  int index = 0;  // NVML's device index (all of the node's GPUs, not CUDA_VISIBLE_DEVICES)
  std::optional<double> util_pct, mem_used_mb, mem_total_mb, power_w;
};

struct MonitorSample {
  double time = 0;        // Unix seconds at the reading
  double interval_s = 0;  // seconds since the previous reading: what the rates are over
  double cpu_process_pct = 0, cpu_machine_pct = 0, rss_mb = 0;
  double disk_read_mb_s = 0, disk_write_mb_s = 0;
  std::vector<NetSample> net;      // by interface name
  std::vector<GpuSample> gpus;     // empty without NVML
  nlohmann::json to_json() const;  // one monitor.jsonl line
};

// TensorBoard tags and values of a sample: system/cpu_process_pct, system/cpu_machine_pct,
// system/rss_mb, system/disk_read_mb_s, system/disk_write_mb_s, net/IFACE/rx_mb_s and tx_mb_s,
// gpuN/util_pct, gpuN/mem_used_mb, gpuN/power_w.
std::vector<std::pair<std::string, double>> monitor_scalars(const MonitorSample& s);

// ---- readings of a /proc tree ----

// The counters at one moment. Files that cannot be read leave their counters at zero.
struct ProcReading {
  uint64_t process_ticks = 0;  // utime + stime
  CpuTimes machine;
  uint64_t rss_bytes = 0;
  std::map<std::string, DiskCounters> disks;
  std::map<std::string, NetCounters> net;
};
// Reads ROOT/self/stat, ROOT/self/status, ROOT/stat, ROOT/diskstats and ROOT/net/dev.
ProcReading read_proc(const std::string& root);

// Readings turned into samples: each sample covers the time since the previous reading (the
// first one since construction). A counter that went down (an interface re-created) counts from
// zero; an interface or disk first listed in a reading counts from that reading on.
class ProcSampler {
 public:
  // `ticks_per_s`: the process counters' clock (0 = sysconf(_SC_CLK_TCK)).
  explicit ProcSampler(std::string root, double ticks_per_s = 0);
  // Reads now; `seconds` since the previous reading (measured by the caller), `unix_time` stamps
  // the sample. No GPUs.
  MonitorSample next(double seconds, double unix_time);

 private:
  std::string root_;
  double ticks_per_s_;
  ProcReading prev_;
  std::map<std::string, NetCounters> net_totals_;
};

// ---- GPUs through NVML, loaded at run time ----

// NVML's library, opened with dlopen and initialized; nvmlShutdown and dlclose at destruction.
class Nvml {
  struct Key {};  // only open() constructs

 public:
  struct Api;  // the few entry points used, resolved with dlsym
  struct Close {
    void operator()(void* handle) const;
  };
  using Library = std::unique_ptr<void, Close>;

  // Null when the library is absent, lacks a function, or nvmlInit_v2 fails; `why` says which.
  static std::unique_ptr<Nvml> open(const std::string& library, std::string* why = nullptr);
  Nvml(Key, Library library, std::unique_ptr<Api> api);
  ~Nvml();  // nvmlShutdown, then dlclose
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;
  // Every GPU NVML lists, with what it reports now.
  std::vector<GpuSample> sample() const;

 private:
  Library library_;
  std::unique_ptr<Api> api_;
};

// ---- summary ----

// Means (weighted by each sample's interval) and peaks of a run's samples, and the bytes each
// interface moved since the monitor started: summary.json's "monitor".
class MonitorSummary {
 public:
  // peaks = false: the sample's rates count towards the means only (a last, partial interval
  // of a few milliseconds is too coarse to be a peak: one CPU tick in 2 ms reads as 500%).
  void add(const MonitorSample& s, bool peaks = true);
  int64_t samples() const { return samples_; }
  double seconds() const { return seconds_; }
  // Bytes received and sent since the monitor started, per interface.
  std::map<std::string, NetCounters> net_bytes() const;
  // {"samples", "seconds", "mean": {...}, "peak": {...}, "net": {IFACE: {"rx_bytes", "tx_bytes",
  //  "rx_mb_s_mean", "tx_mb_s_mean", "rx_mb_s_peak", "tx_mb_s_peak"}},
  //  "gpus": [{"index", "mean": {...}, "peak": {...}}] (only with GPU samples)}; mean and peak
  //  hold cpu_process_pct, cpu_machine_pct, rss_mb, disk_read_mb_s, disk_write_mb_s (GPUs:
  //  util_pct, mem_used_mb, power_w).
  nlohmann::json to_json() const;

  struct Stat {
    double weighted = 0, weight = 0, peak = 0;
    void add(double v, double w, bool peak);
    double mean() const { return weight > 0 ? weighted / weight : 0; }
  };

 private:
  struct Net {
    Stat rx, tx;
    NetCounters bytes;
  };
  int64_t samples_ = 0;
  double seconds_ = 0;
  std::map<std::string, Stat> system_;
  std::map<std::string, Net> net_;
  std::map<int, std::map<std::string, Stat>> gpus_;
};

// ---- the sampler thread ----

struct MonitorOptions {
  double interval_s = 1.0;
  std::string proc_root = "/proc";
  std::string nvml_library = "libnvidia-ml.so.1";  // "" = no GPU sampling
};

// Samples every interval_s on its own thread from start() to stop(). `on_sample` is called once
// per sample, never twice at a time: on the sampler thread, and once more on stop()'s caller for
// the last, partial interval. A callback that throws ends the sampling with a warning in the log.
class SystemMonitor {
 public:
  using Callback = std::function<void(const MonitorSample&)>;
  // Throws Error for an interval that is not positive.
  SystemMonitor(MonitorOptions options, Callback on_sample);
  ~SystemMonitor();  // stop()
  SystemMonitor(const SystemMonitor&) = delete;
  SystemMonitor& operator=(const SystemMonitor&) = delete;

  // Takes the first reading (samples cover the time from here) and starts the thread. Once.
  void start();
  // Ends the thread (promptly: it waits on a condition, not a sleep) and takes the last sample.
  void stop();
  bool has_gpus() const { return nvml_ != nullptr; }
  MonitorSummary summary() const;  // of the samples so far

 private:
  void loop();
  void take(bool final);

  MonitorOptions opt_;
  Callback on_sample_;
  std::unique_ptr<ProcSampler> sampler_;
  std::unique_ptr<Nvml> nvml_;
  std::chrono::steady_clock::time_point last_;
  mutable std::mutex mu_;  // guards stop_, failed_ and summary_
  std::condition_variable cv_;
  bool started_ = false, stop_ = false, failed_ = false;  // started_: the caller's thread only
  MonitorSummary summary_;
  std::thread thread_;
};

}  // namespace scaledl
