// The sizing model (study/plan.h) against hand-computed values, its monotonicity, calibration
// from run folders and comm bench files written here, and bad input (library and CLI).
#include "study/plan.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "core/error.h"
#include "study/calibrate.h"
#include "temp_dir.h"

namespace scaledl::study {
namespace {

using scaledl::testing::expect_user_error;
using scaledl::testing::run_cli;
using scaledl::testing::test_temp_dir;

// 25 M fp32 parameters (100 MB of gradients), 400 images/s at batch 128, 4 devices per node,
// intra 50 GB/s 2 us, inter 100 Gb/s 5 us.
PlanInput base() {
  PlanInput in;
  in.params = 25'000'000;
  in.device_ips = 400;
  in.batch_per_device = 128;
  in.devices_per_node = 4;
  in.intra = {50e9, 2e-6};
  in.inter = {12.5e9, 5e-6};
  in.bytes_per_image = 110e3;
  return in;
}

void expect_throws_naming(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; want one naming " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.component(), "plan");
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Plan, AllreduceFormulas) {
  EXPECT_DOUBLE_EQ(gradient_bytes(1000, GradPrecision::fp32), 4000);
  EXPECT_DOUBLE_EQ(gradient_bytes(1000, GradPrecision::bf16), 2000);
  // 2(p-1)/p * B / bw + 2(p-1) * a: 0.75 * 2 * 100 MB / 10 GB/s + 6 * 5 us.
  EXPECT_NEAR(ring_allreduce_s(4, 100e6, {10e9, 5e-6}), 0.015 + 30e-6, 1e-12);
  EXPECT_EQ(ring_allreduce_s(1, 100e6, {10e9, 5e-6}), 0);
  // 2 * B / bw + 2 * ceil(log2 p) * a.
  EXPECT_NEAR(tree_allreduce_s(8, 100e6, {10e9, 1e-5}), 0.02 + 60e-6, 1e-12);
  EXPECT_NEAR(tree_allreduce_s(5, 100e6, {10e9, 1e-5}), 0.02 + 60e-6, 1e-12);
}

TEST(Plan, AllreduceAcrossNodes) {
  PlanInput in = base();
  // Ring through 8 devices on 2 nodes, paced by the NIC: 2*7/8 * 100 MB / 12.5 GB/s + 14 * 5 us.
  CommCost ring = allreduce_cost(in, 8);
  EXPECT_NEAR(ring.seconds, 0.014 + 70e-6, 1e-12);
  EXPECT_NEAR(ring.inter_s, ring.seconds, 1e-15);
  EXPECT_DOUBLE_EQ(ring.nic_bytes_sent, 175e6);
  // Hierarchical: 2 * (3/4 * 100 MB / 50 GB/s + 3 * 2 us) inside, 2*1/2 * 100 MB / 12.5 GB/s +
  // 2 * 5 us across.
  in.algorithm = Allreduce::hierarchical;
  CommCost h = allreduce_cost(in, 8);
  EXPECT_NEAR(h.intra_s, 2 * (0.0015 + 6e-6), 1e-12);
  EXPECT_NEAR(h.inter_s, 0.008 + 10e-6, 1e-12);
  EXPECT_NEAR(h.seconds, h.intra_s + h.inter_s, 1e-15);
  EXPECT_DOUBLE_EQ(h.nic_bytes_sent, 100e6);
  // One node: only the intra-node link, no NIC traffic.
  CommCost one = allreduce_cost(in, 4);
  EXPECT_NEAR(one.seconds, 1.5 * 100e6 / 50e9 + 6 * 2e-6, 1e-12);
  EXPECT_EQ(one.nic_bytes_sent, 0);
  EXPECT_EQ(allreduce_cost(in, 1).seconds, 0);
}

TEST(Plan, PredictHandComputed) {
  PlanInput in = base();
  in.overlap = 0.5;
  const PlanRow r = predict(in, 8);
  // compute 128 / 400 = 0.32 s; comm 0.01407 s, half of it hidden behind backward.
  const double comm = 0.014 + 70e-6, step = 0.32 + comm / 2;
  EXPECT_EQ(r.nodes, 2);
  EXPECT_NEAR(r.compute_s, 0.32, 1e-12);
  EXPECT_NEAR(r.comm_exposed_s, comm / 2, 1e-12);
  EXPECT_NEAR(r.step_s, step, 1e-12);
  EXPECT_NEAR(r.images_per_sec, 8 * 128 / step, 1e-9);
  EXPECT_NEAR(r.speedup, 8 * 128 / step / 400, 1e-12);
  EXPECT_NEAR(r.efficiency, r.speedup / 8, 1e-12);
  EXPECT_NEAR(r.network_gbps_per_node, 175e6 / step * 8 / 1e9, 1e-12);
  EXPECT_NEAR(r.storage_gbps_per_node, 8 * 128 / step / 2 * 110e3 * 8 / 1e9, 1e-12);
  EXPECT_EQ(r.bottleneck, "compute");  // exposed 2.2% of the step
  // Overlap cannot hide more than backward lasts.
  in.overlap = 1;
  in.backward_fraction = 0.01;  // 3.2 ms of backward
  EXPECT_NEAR(predict(in, 8).comm_exposed_s, comm - 0.0032, 1e-12);
  // Host CPU: 0.5 s of CPU per step on one core floors the step at 0.5 s, one device included.
  in = base();
  in.host_cpu_s = 0.5;
  in.cores_per_device = 1;
  const PlanRow cpu = predict(in, 8);
  EXPECT_TRUE(cpu.cpu_bound);
  EXPECT_NEAR(cpu.step_s, 0.5, 1e-12);
  EXPECT_EQ(cpu.bottleneck, "host CPU");
  EXPECT_NEAR(cpu.speedup, 8, 1e-9);  // the single device is held to the same floor
  in.cores_per_device = 2;
  EXPECT_FALSE(predict(in, 8).cpu_bound);
}

TEST(Plan, StorageAndNetworkBottlenecks) {
  PlanInput in = base();
  in.storage_bytes_per_s = 1e9;  // 8 Gb/s: at most 9091 images/s of 110 KB
  const Plan p = make_plan(in, {1, 4, 8, 32});
  EXPECT_FALSE(p.rows[2].storage_bound);
  EXPECT_TRUE(p.rows[3].storage_bound);
  EXPECT_NEAR(p.rows[3].images_per_sec, 1e9 / 110e3, 1e-6);
  EXPECT_EQ(p.rows[3].bottleneck, "storage");
  EXPECT_EQ(p.first_bottleneck.rfind("storage from 32 devices", 0), 0u) << p.first_bottleneck;
  // A slow NIC: the inter-node allreduce is named from the first multi-node count.
  in.storage_bytes_per_s = 0;
  in.inter = {1.25e9, 5e-6};  // 10 Gb/s
  const Plan q = make_plan(in, {1, 4, 8, 32});
  EXPECT_EQ(q.rows[1].bottleneck, "compute");
  EXPECT_EQ(q.rows[2].bottleneck, "inter-node allreduce");
  EXPECT_EQ(q.first_bottleneck.rfind("inter-node allreduce from 8 devices", 0), 0u)
      << q.first_bottleneck;
  in.inter = {12.5e9, 5e-6};
  EXPECT_EQ(make_plan(in, {1, 2}).first_bottleneck.rfind("none up to 2 devices", 0), 0u);
}

TEST(Plan, Monotonic) {
  for (Allreduce a : {Allreduce::ring, Allreduce::tree, Allreduce::hierarchical}) {
    PlanInput in = base();
    in.algorithm = a;
    in.inter = {1.25e9, 5e-6};
    const std::vector<int> counts = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    const Plan p = make_plan(in, counts);
    for (size_t i = 1; i < p.rows.size(); ++i) {
      EXPECT_GE(p.rows[i].images_per_sec, p.rows[i - 1].images_per_sec) << name(a) << " " << i;
      EXPECT_LE(p.rows[i].efficiency, p.rows[i - 1].efficiency + 1e-12) << name(a) << " " << i;
    }
    // More bandwidth, more overlap, fewer gradient bytes: never slower.
    for (int d : counts) {
      const double ips = predict(in, d).images_per_sec;
      PlanInput faster = in;
      faster.inter.bytes_per_s *= 2;
      EXPECT_GE(predict(faster, d).images_per_sec, ips);
      faster = in;
      faster.overlap = 0.8;
      EXPECT_GE(predict(faster, d).images_per_sec, ips);
      faster = in;
      faster.precision = GradPrecision::fp16;
      EXPECT_GE(predict(faster, d).images_per_sec, ips);
    }
  }
}

TEST(Plan, ParsesUnitsAndRefusesBadValues) {
  EXPECT_DOUBLE_EQ(parse_bandwidth("100Gb/s", "--inter-bw"), 12.5e9);
  EXPECT_DOUBLE_EQ(parse_bandwidth("12.5GB/s", "--inter-bw"), 12.5e9);
  EXPECT_DOUBLE_EQ(parse_bandwidth("800MB/s", "--inter-bw"), 800e6);
  EXPECT_DOUBLE_EQ(parse_bandwidth("25", "--inter-bw"), 25e9 / 8);
  EXPECT_DOUBLE_EQ(parse_latency("5us", "--inter-latency"), 5e-6);
  EXPECT_DOUBLE_EQ(parse_latency("1.5ms", "--inter-latency"), 1.5e-3);
  EXPECT_DOUBLE_EQ(parse_latency("3", "--inter-latency"), 3e-6);
  EXPECT_EQ(parse_devices("1-32", "--devices"), (std::vector<int>{1, 2, 4, 8, 16, 32}));
  EXPECT_EQ(parse_devices("1,3,12", "--devices"), (std::vector<int>{1, 3, 12}));
  expect_throws_naming([] { parse_bandwidth("-5Gb/s", "--inter-bw"); }, "--inter-bw");
  expect_throws_naming([] { parse_bandwidth("fast", "--intra-bw"); }, "--intra-bw");
  expect_throws_naming([] { parse_bandwidth("5 parsecs", "--intra-bw"); }, "unknown unit");
  expect_throws_naming([] { parse_latency("-1us", "--inter-latency"); }, "--inter-latency");
  expect_throws_naming([] { parse_devices("0", "--devices"); }, "--devices");
  expect_throws_naming([] { parse_devices("1,,4", "--devices"); }, "--devices");
  expect_throws_naming([] { parse_allreduce("butterfly"); }, "--allreduce");
  PlanInput in = base();
  in.params = 0;
  expect_throws_naming([&] { validate(in); }, "--params");
  in = base();
  in.device_ips = 0;
  expect_throws_naming([&] { validate(in); }, "--device-ips");
  in = base();
  in.overlap = 1.5;
  expect_throws_naming([&] { validate(in); }, "--overlap");
  expect_throws_naming([&] { predict(base(), 0); }, "--devices");
}

void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

// A run folder as scaledl train writes it (the keys the model reads), with a warm-up record
// that calibration must skip.
std::filesystem::path make_run(const std::filesystem::path& dir, int world, double allreduce_s,
                               double ips) {
  std::filesystem::create_directories(dir);
  nlohmann::json s = {{"schema", 1},
                      {"model", "lenet5"},
                      {"world_size", world},
                      {"batch", 32},
                      {"global_batch", 32 * world},
                      {"params", 1000},
                      {"steps", 100},
                      {"steps_this_run", 100},
                      {"images_per_sec", ips},
                      {"distributed",
                       {{"allreduce_seconds", allreduce_s * 100},
                        {"hidden_fraction", 0.25},
                        {"overlap", true},
                        {"grad_wire", "f32"},
                        {"world_size", world}}}};
  write(dir / "summary.json", s.dump());
  std::string lines =
      R"({"step":20,"forward_s":0.05,"backward_s":0.08,"optimizer_s":0.01,"data_s":0.02,"comm_exposed_s":0,"device_wait_s":0})"
      "\n";
  const std::string exposed = world > 1 ? "0.0015" : "0";
  for (int step : {40, 60})
    lines += R"({"step":)" + std::to_string(step) +
             R"(,"forward_s":0.010,"backward_s":0.016,"optimizer_s":0.002,"data_s":0.002,)"
             R"("comm_exposed_s":)" +
             exposed + R"(,"device_wait_s":0})" + "\n";
  write(dir / "steps.jsonl", lines);
  return dir;
}

TEST(Calibrate, OneRankRun) {
  // Records: 28 ms compute and 2 ms data wait per step; the run's own figure, 1000 images/s at
  // batch 32, is 32 ms per step: the phases are scaled by 32/30 to it.
  const auto dir = make_run(test_temp_dir("plan") / "one", 1, 0, 1000);
  const RunMeasure m = read_run(dir.string());
  EXPECT_EQ(m.records, 2);  // the warm-up record left out
  const double k = 0.032 / 0.030;
  EXPECT_NEAR(m.compute_s(), 0.028 * k, 1e-12);
  EXPECT_NEAR(m.data_s, 0.002 * k, 1e-12);
  PlanInput in = base();
  calibrate(in, m);
  EXPECT_EQ(in.params, 1000);
  EXPECT_EQ(in.batch_per_device, 32);
  EXPECT_NEAR(in.device_ips, 32 / (0.028 * k), 1e-9);
  EXPECT_NEAR(in.backward_fraction, 0.016 / 0.028, 1e-12);
  EXPECT_NEAR(in.step_overhead_s, 0.002 * k, 1e-12);
  const Comparison c = compare(in, m);  // the run it was calibrated on: no error
  EXPECT_NEAR(c.predicted_ips, 1000, 1e-9);
  EXPECT_NEAR(c.error, 0, 1e-12);
}

TEST(Calibrate, TwoRankRunFitsOverlapAndLink) {
  const auto dir = make_run(test_temp_dir("plan") / "two", 2, 0.002, 1800);
  PlanInput in = base();
  in.intra.latency_s = 0;
  calibrate(in, read_run(dir.string()));
  EXPECT_NEAR(in.overlap, 0.25, 1e-12);
  // 2 ms per step for 4000 bytes on 2 ranks: 2*1/2 * 4000 B / 2 ms = 2 MB/s.
  EXPECT_NEAR(in.intra.bytes_per_s, 2e6, 1e-3);
  EXPECT_NEAR(allreduce_cost(in, 2).seconds, 0.002, 1e-12);
}

TEST(Calibrate, CommBenchFit) {
  auto row = [](double bytes, double us, double busbw) {
    return nlohmann::json{{"op", "allreduce"},
                          {"bytes", bytes},
                          {"time_us", us},
                          {"busbw_gbps", busbw},
                          {"ranks", 2}};
  };
  nlohmann::json rows = {row(8, 10, 0.0008), row(1 << 20, 300, 4), row(1 << 24, 3500, 5),
                         row(1 << 25, 6000, 6), row(1 << 26, 10000, 7)};
  const LinkFit f = fit_comm_bench(rows.dump(), "bench.json");
  EXPECT_EQ(f.ranks, 2);
  EXPECT_EQ(f.rows, 5);
  EXPECT_DOUBLE_EQ(f.link.bytes_per_s, 6e9);  // median of the three largest sizes' busbw
  EXPECT_NEAR(f.link.latency_s, (10e-6 - 8 / 6e9) / 2, 1e-15);
  nlohmann::json one = {{{"op", "allreduce"}, {"bytes", 8}, {"time_us", 1}, {"ranks", 1}}};
  expect_throws_naming([&] { fit_comm_bench(one.dump(), "b.json"); }, "2 or more ranks");
  expect_throws_naming([&] { fit_comm_bench("[]", "b.json"); }, "no allreduce rows");
  expect_throws_naming([&] { fit_comm_bench("{", "b.json"); }, "not valid JSON");
}

TEST(Calibrate, RefusesFolderWithoutSummary) {
  const auto dir = test_temp_dir("plan");
  expect_throws_naming([&] { read_run(dir.string()); }, "no summary.json");
  expect_throws_naming([&] { read_run((dir / "absent").string()); }, "no such folder");
}

TEST(PlanCli, TableJsonAndBadInput) {
  const auto dir = make_run(test_temp_dir("plan_cli") / "one", 1, 0, 1000);
  auto r = run_cli("plan --params 25557032 --device-ips 400 --batch-per-device 128 --json", false);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["rows"].size(), 6u);
  EXPECT_EQ(j["rows"][5]["devices"], 32);
  EXPECT_NEAR(j["rows"][0]["speedup"].get<double>(), 1.0, 1e-12);
  r = run_cli("plan --model lenet5 --device-ips 1000 --devices 1,2 --calibrate " + dir.string() +
              " --compare " + dir.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("first bottleneck:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compared: "), std::string::npos) << r.out;
  expect_user_error("plan --model resnet50 --device-ips 400 --inter-bw -5Gb/s", "--inter-bw");
  expect_user_error("plan --model resnet50 --device-ips 400 --devices 0", "--devices");
  expect_user_error("plan --model nosuchnet --device-ips 400", "unknown model");
  expect_user_error("plan --model lenet5", "--device-ips");
  expect_user_error("plan --device-ips 400", "--params");
  expect_user_error("plan --calibrate " + test_temp_dir("plan_empty").string(), "summary.json");
}

}  // namespace
}  // namespace scaledl::study
