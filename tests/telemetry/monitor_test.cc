// The system monitor: /proc parsers on fixture text, rates between readings of a fake /proc,
// the summary, the sampler thread's timing and stop, NVML's absence, and the Trainer hook's files.
#include "telemetry/monitor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "core/error.h"
#include "temp_dir.h"
#include "train/monitor_hook.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char* kNetDev =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo: 35559022  365870    0    0    0     0          0         0 35559022  365870    0    "
    "0    0     0       0          0\n"
    "  eth0: 9876543210 7654321    0   12    0     0          0      1234 1234567890 3456789    0 "
    "   0    0     0       0          0\n"
    "vethab12cd:1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n"
    "  bad0: 12 not numbers\n";

const char* kDiskstats =
    " 259       0 nvme0n1 52311 1201 6543210 23456 98765 4321 12345678 76543 0 45678 100000 0 0 0 "
    "0 1234 5678\n"
    " 259       1 nvme0n1p1 300 0 20000 100 10 0 80 5 0 100 105 0 0 0 0\n"
    " 259       2 nvme0n1p2 52000 1201 6523210 23356 98755 4321 12345598 76538 0 45578 99895 0 0 "
    "0 0\n"
    " 259       3 nvme0n10 10 0 800 1 20 0 1600 2 0 3 3 0 0 0 0\n"
    "   8       0 sda 1000 0 2000 10 3000 0 4000 20 0 30 30\n"
    "   8       1 sda1 999 0 1999 10 2999 0 3999 20 0 30 30\n"
    " 179       0 mmcblk0 5 0 50 1 6 0 60 1 0 2 2\n"
    " 179       1 mmcblk0p1 5 0 50 1 6 0 60 1 0 2 2\n"
    "   7       0 loop0 100 0 200 1 0 0 0 0 0 1 1 0 0 0 0\n"
    "   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0\n"
    " 253       0 dm-0 400 0 800 1 500 0 1000 2 0 3 3\n"
    "   9       0 md0 400 0 800 1 500 0 1000 2 0 3 3\n"
    "   8      16 sdb 1 2 3\n";

const char* kStat =
    "cpu  1983229 40154 167555 3357178 4529 0 1483 7047 11 22\n"
    "cpu0 987792 17636 79394 1690678 738 0 668 3512 0 0\n"
    "intr 12345 0 0\n";

// comm with spaces and parentheses: fields count from the last ')'.
std::string self_stat(uint64_t utime, uint64_t stime) {
  return "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194304 101 0 0 0 " + std::to_string(utime) +
         " " + std::to_string(stime) + " 0 0 20 0 8 0 2783976 3133440 386 18446744073709551615\n";
}

TEST(MonitorParse, NetDevGivesBytesPerInterface) {
  const auto m = parse_proc_net_dev(kNetDev);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m.at("lo").rx_bytes, 35559022u);
  EXPECT_EQ(m.at("lo").tx_bytes, 35559022u);
  EXPECT_EQ(m.at("eth0").rx_bytes, 9876543210u);
  EXPECT_EQ(m.at("eth0").tx_bytes, 1234567890u);
  EXPECT_EQ(m.at("vethab12cd").rx_bytes, 1000u);  // no space after the colon (old kernels)
  EXPECT_EQ(m.at("vethab12cd").tx_bytes, 2000u);
  EXPECT_TRUE(parse_proc_net_dev("").empty());
}

TEST(MonitorParse, DiskstatsCountsWholePhysicalDisksOnly) {
  const auto m = parse_proc_diskstats(kDiskstats);
  std::vector<std::string> names;
  for (const auto& [name, c] : m) names.push_back(name);
  // nvme0n10 is namespace 10, not a partition of nvme0n1 (that would be nvme0n1p10); sdb's
  // line is too short to read.
  EXPECT_EQ(names, (std::vector<std::string>{"mmcblk0", "nvme0n1", "nvme0n10", "sda"}));
  EXPECT_EQ(m.at("nvme0n1").sectors_read, 6543210u);
  EXPECT_EQ(m.at("nvme0n1").sectors_written, 12345678u);
  EXPECT_EQ(m.at("sda").sectors_read, 2000u);
  EXPECT_EQ(m.at("sda").sectors_written, 4000u);
}

TEST(MonitorParse, StatSelfStatAndStatus) {
  const auto cpu = parse_proc_stat(kStat);
  ASSERT_TRUE(cpu);
  // user nice system idle iowait irq softirq steal (guest columns are inside user and nice)
  EXPECT_EQ(cpu->total, 1983229u + 40154 + 167555 + 3357178 + 4529 + 0 + 1483 + 7047);
  EXPECT_EQ(cpu->idle, 3357178u + 4529);
  EXPECT_FALSE(parse_proc_stat("cpu0 1 2 3 4 5\n"));

  EXPECT_EQ(parse_proc_self_stat(self_stat(250, 50)), 300u);
  EXPECT_FALSE(parse_proc_self_stat("4242 (short) S 1 2 3"));
  EXPECT_FALSE(parse_proc_self_stat("no parenthesis"));

  EXPECT_EQ(parse_proc_self_status("Name:\tscaledl\nVmPeak:\t  999 kB\nVmRSS:\t  123456 kB\n"),
            123456u * 1024);
  EXPECT_FALSE(parse_proc_self_status("Name:\tkthreadd\n"));
}

// A /proc of our own: what ProcSampler reads, advanced by the test.
struct FakeProc {
  fs::path root;
  explicit FakeProc(const fs::path& r) : root(r) {
    fs::create_directories(root / "self");
    fs::create_directories(root / "net");
  }
  void write(const std::string& rel, const std::string& text) const {
    std::ofstream(root / rel) << text;
  }
  void set(uint64_t ticks, uint64_t total_busy, uint64_t idle, uint64_t rss_kb,
           uint64_t sectors_read, uint64_t sectors_written, const std::string& net) const {
    write("self/stat", self_stat(ticks, 0));
    write("self/status", "VmRSS:\t" + std::to_string(rss_kb) + " kB\n");
    write("stat",
          "cpu  " + std::to_string(total_busy) + " 0 0 " + std::to_string(idle) + " 0 0 0 0 0 0\n");
    write("diskstats", "259 0 nvme0n1 1 0 " + std::to_string(sectors_read) + " 0 1 0 " +
                           std::to_string(sectors_written) + " 0 0 0 0\n" +
                           "259 1 nvme0n1p1 1 0 99999 0 1 0 99999 0 0 0 0\n");
    write("net/dev", "Inter-| x\n face |y\n" + net);
  }
};

TEST(MonitorRates, ExactRatesBetweenTwoReadings) {
  const FakeProc p(testing::test_temp_dir("monitor"));
  p.set(1000, 5000, 20000, 2000, 10000, 20000,
        "lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n"
        "eth0: 1000000 1 0 0 0 0 0 0 5000000 1 0 0 0 0 0 0\n");
  ProcSampler sampler(p.root.string(), 100);
  // 2 s later: 150 ticks of CPU (0.75 s a second), 750 busy and 250 idle machine jiffies,
  // 4000 sectors read and 8000 written, eth0 3 MB in and 1 MB out, lo nothing.
  p.set(1150, 5750, 20250, 3000, 14000, 28000,
        "lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n"
        "eth0: 4000000 1 0 0 0 0 0 0 6000000 1 0 0 0 0 0 0\n");
  MonitorSample s = sampler.next(2.0, 1700000000.5);
  EXPECT_EQ(s.time, 1700000000.5);
  EXPECT_EQ(s.interval_s, 2.0);
  EXPECT_DOUBLE_EQ(s.cpu_process_pct, 75.0);
  EXPECT_DOUBLE_EQ(s.cpu_machine_pct, 75.0);
  EXPECT_DOUBLE_EQ(s.rss_mb, 3000 * 1024 / 1e6);
  EXPECT_DOUBLE_EQ(s.disk_read_mb_s, 4000 * 512 / 1e6 / 2);  // the partition is not counted
  EXPECT_DOUBLE_EQ(s.disk_write_mb_s, 8000 * 512 / 1e6 / 2);
  ASSERT_EQ(s.net.size(), 2u);
  EXPECT_EQ(s.net[0].name, "eth0");
  EXPECT_DOUBLE_EQ(s.net[0].rx_mb_s, 1.5);
  EXPECT_DOUBLE_EQ(s.net[0].tx_mb_s, 0.5);
  EXPECT_EQ(s.net[0].rx_bytes_total, 3000000u);
  EXPECT_EQ(s.net[0].tx_bytes_total, 1000000u);
  EXPECT_EQ(s.net[1].name, "lo");
  EXPECT_EQ(s.net[1].rx_mb_s, 0.0);

  // 1 s later eth0 was re-created (its counters restart) and veth0 appears: eth0 counts from
  // zero, veth0 from this reading on.
  p.set(1150, 5750, 20250, 3000, 14000, 28000,
        "eth0: 500000 1 0 0 0 0 0 0 250000 1 0 0 0 0 0 0\n"
        "veth0: 7000000 1 0 0 0 0 0 0 7000000 1 0 0 0 0 0 0\n");
  s = sampler.next(1.0, 1700000001.5);
  ASSERT_EQ(s.net.size(), 2u);
  EXPECT_DOUBLE_EQ(s.net[0].rx_mb_s, 0.5);
  EXPECT_EQ(s.net[0].rx_bytes_total, 3500000u);
  EXPECT_EQ(s.net[0].tx_bytes_total, 1250000u);
  EXPECT_EQ(s.net[1].name, "veth0");
  EXPECT_EQ(s.net[1].rx_mb_s, 0.0);
  EXPECT_EQ(s.net[1].rx_bytes_total, 0u);
  EXPECT_EQ(s.cpu_process_pct, 0.0);
  EXPECT_EQ(s.cpu_machine_pct, 0.0);  // no jiffies passed: no division by zero
}

TEST(MonitorRates, MissingFilesReadAsZeros) {
  const auto dir = testing::test_temp_dir("monitor");
  ProcSampler sampler(dir.string(), 100);
  const MonitorSample s = sampler.next(1.0, 0);
  EXPECT_EQ(s.cpu_process_pct, 0.0);
  EXPECT_EQ(s.rss_mb, 0.0);
  EXPECT_TRUE(s.net.empty());
}

TEST(MonitorRates, RealProcReads) {
  const ProcReading r = read_proc("/proc");
  EXPECT_GT(r.rss_bytes, 1000000u);
  EXPECT_GT(r.machine.total, 0u);
  EXPECT_GE(r.machine.total, r.machine.idle);
  EXPECT_TRUE(r.net.count("lo"));
}

MonitorSample sample_of(double interval, double cpu, double rx_mb_s, uint64_t rx_total) {
  MonitorSample s;
  s.interval_s = interval;
  s.cpu_process_pct = cpu;
  s.rss_mb = 100;
  s.net.push_back({"eth0", rx_mb_s, 0, rx_total, 7});
  return s;
}

TEST(MonitorSummary, MeansWeightedByIntervalPeaksAndBytes) {
  MonitorSummary sum;
  sum.add(sample_of(1.0, 100, 2.0, 2000000));
  sum.add(sample_of(3.0, 200, 1.0, 5000000));
  sum.add(sample_of(0.01, 900, 50.0, 5500000), /*peaks=*/false);  // a last, partial interval
  EXPECT_EQ(sum.samples(), 3);
  EXPECT_DOUBLE_EQ(sum.seconds(), 4.01);
  EXPECT_EQ(sum.net_bytes().at("eth0").rx_bytes, 5500000u);
  const nlohmann::json j = sum.to_json();
  EXPECT_DOUBLE_EQ(j["mean"]["cpu_process_pct"].get<double>(), (100 + 600 + 9) / 4.01);
  EXPECT_EQ(j["peak"]["cpu_process_pct"], 200.0);
  EXPECT_EQ(j["peak"]["rss_mb"], 100.0);
  EXPECT_EQ(j["net"]["eth0"]["rx_bytes"], 5500000u);
  EXPECT_EQ(j["net"]["eth0"]["tx_bytes"], 7u);
  EXPECT_DOUBLE_EQ(j["net"]["eth0"]["rx_mb_s_mean"].get<double>(), (2 + 3 + 0.5) / 4.01);
  EXPECT_EQ(j["net"]["eth0"]["rx_mb_s_peak"], 2.0);
  EXPECT_FALSE(j.contains("gpus"));
}

TEST(MonitorSample, JsonLineAndScalars) {
  MonitorSample s = sample_of(1.0, 50, 1.25, 10);
  s.time = 1700000000.25;
  nlohmann::json j = s.to_json();
  EXPECT_EQ(j["time"], 1700000000.25);
  EXPECT_EQ(j["cpu_process_pct"], 50.0);
  EXPECT_EQ(j["net"]["eth0"]["rx_mb_s"], 1.25);
  EXPECT_EQ(j["net"]["eth0"]["rx_bytes_total"], 10u);
  EXPECT_FALSE(j.contains("gpus"));  // no NVML: no GPU fields
  GpuSample g;
  g.index = 1, g.util_pct = 97, g.mem_used_mb = 1000;  // no power reported
  s.gpus.push_back(g);
  j = s.to_json();
  EXPECT_EQ(j["gpus"][0],
            (nlohmann::json{{"index", 1}, {"util_pct", 97.0}, {"mem_used_mb", 1000.0}}));
  const auto scalars = monitor_scalars(s);
  EXPECT_EQ(scalars.front().first, "system/cpu_process_pct");
  EXPECT_EQ(scalars.size(), 5u + 2 + 2);  // system, eth0 rx/tx, gpu1 util and memory
  EXPECT_EQ(scalars.back(), (std::pair<std::string, double>{"gpu1/mem_used_mb", 1000}));
}

TEST(MonitorNvml, AbsentOrIncompleteLibraryIsNoGpus) {
  std::string why;
  EXPECT_EQ(Nvml::open("libscaledl-no-such-nvml.so.1", &why), nullptr);
  EXPECT_NE(why.find("libscaledl-no-such-nvml.so.1"), std::string::npos) << why;
  // A library that loads but is not NVML.
  EXPECT_EQ(Nvml::open("libc.so.6", &why), nullptr);
  EXPECT_NE(why.find("lacks nvmlInit_v2"), std::string::npos) << why;
}

TEST(MonitorThread, SamplesAtTheIntervalAndStopsPromptly) {
  std::vector<MonitorSample> got;
  std::vector<Clock::time_point> at;
  MonitorOptions o;
  o.interval_s = 0.05;
  o.nvml_library = "libscaledl-no-such-nvml.so.1";
  SystemMonitor m(o, [&](const MonitorSample& s) { got.push_back(s), at.push_back(Clock::now()); });
  const auto t0 = Clock::now();
  m.start();
  EXPECT_FALSE(m.has_gpus());
  std::this_thread::sleep_for(std::chrono::milliseconds(330));
  m.stop();
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_LT(took, 0.33 + 0.2);
  // 6 on schedule (at 50, 100, ... 300 ms) and the last, partial one; a loaded machine may skip
  // a tick or two, or oversleep. The samples cover start() to stop() without gap or overlap.
  ASSERT_GE(got.size(), 4u);
  EXPECT_LE(got.size(), static_cast<size_t>(took / 0.05) + 1);
  EXPECT_GE(got[0].interval_s, 0.049);
  EXPECT_LT(got[0].interval_s, 0.15);
  double covered = 0;
  for (const MonitorSample& s : got) {
    covered += s.interval_s;
    EXPECT_TRUE(s.gpus.empty());
    EXPECT_GT(s.rss_mb, 1.0);
  }
  EXPECT_NEAR(covered, took, 0.05);
  EXPECT_LT(got.back().interval_s, 0.05 + 0.02);
  EXPECT_EQ(m.summary().samples(), static_cast<int64_t>(got.size()));
  m.stop();  // again: nothing more
  EXPECT_EQ(m.summary().samples(), static_cast<int64_t>(got.size()));
}

TEST(MonitorThread, StopDoesNotWaitForTheInterval) {
  int calls = 0;
  MonitorOptions o;
  o.interval_s = 30;
  {
    SystemMonitor m(o, [&](const MonitorSample& s) {
      ++calls;
      EXPECT_LT(s.interval_s, 1.0);
    });
    m.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto t0 = Clock::now();
    m.stop();
    EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 0.5);
    // Where NVML does not load (no GPU driver), no GPU fields.
    if (!m.has_gpus()) {
      EXPECT_FALSE(m.summary().to_json().contains("gpus"));
    }
  }
  EXPECT_EQ(calls, 1);  // the last, partial interval only
}

TEST(MonitorThread, ThrowingCallbackEndsSamplingNotTheProcess) {
  int calls = 0;
  MonitorOptions o;
  o.interval_s = 0.01;
  o.nvml_library = "";
  SystemMonitor m(o, [&](const MonitorSample&) {
    ++calls;
    throw std::runtime_error("disk full");
  });
  m.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  m.stop();
  EXPECT_EQ(calls, 1);
  EXPECT_THROW((SystemMonitor(MonitorOptions{.interval_s = 0}, nullptr)), Error);
}

TEST(MonitorHook, WritesJsonlAndSummaryPerRank) {
  const auto dir = testing::test_temp_dir("monitor");
  TrainConfig cfg;
  cfg.run_dir = dir.string();
  MonitorOptions o;
  o.interval_s = 0.02;
  o.nvml_library = "";
  int heard = 0;
  int64_t heard_step = -1;
  auto rank0 = monitor_hook(
      cfg, 0, o, [&](const MonitorSample&, int64_t step) { ++heard, heard_step = step; });
  auto rank1 = monitor_hook(cfg, 1, o);
  TrainConfig elsewhere = cfg;
  elsewhere.run_dir = (dir / "not_on_this_node").string();
  auto rank2 = monitor_hook(elsewhere, 2, o);
  RunFacts f;
  f.config = &cfg;
  for (auto* h : {rank0.get(), rank1.get(), rank2.get()}) h->run_start(f);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  StepRecord r;
  r.step = 3;
  rank0->step_end(r);
  EXPECT_EQ(heard, 1);  // the latest of the samples so far, on this thread
  EXPECT_EQ(heard_step, 3);
  nlohmann::json s0, s1, s2;
  rank0->run_end(s0), rank1->run_end(s1), rank2->run_end(s2);

  ASSERT_TRUE(fs::exists(dir / "monitor.jsonl"));
  ASSERT_TRUE(fs::exists(dir / "monitor.rank1.jsonl"));
  EXPECT_FALSE(fs::exists(dir / "not_on_this_node"));
  std::ifstream in(dir / "monitor.jsonl");
  std::string line, last;
  int lines = 0;
  while (std::getline(in, line)) ++lines, last = line;
  const nlohmann::json j = nlohmann::json::parse(last);
  EXPECT_EQ(j["rank"], 0);
  EXPECT_EQ(j["step"], 3);
  EXPECT_TRUE(j.contains("cpu_process_pct") && j.contains("net"));
  EXPECT_EQ(s0["monitor"]["samples"], lines);
  EXPECT_EQ(s0["monitor"]["jsonl"], (dir / "monitor.jsonl").string());
  EXPECT_TRUE(s0["monitor"]["mean"].contains("rss_mb"));
  EXPECT_EQ(s1["monitor"]["jsonl"], (dir / "monitor.rank1.jsonl").string());
  EXPECT_FALSE(s2["monitor"].contains("jsonl"));
  EXPECT_GE(s2["monitor"]["samples"].get<int>(), 1);
}

}  // namespace
}  // namespace scaledl
