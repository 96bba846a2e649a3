// scaledl plan: the cluster sizing model (study/plan.h), from given figures or calibrated from
// runs and comm bench files; a table per device count, or --json.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "models/models.h"
#include "study/calibrate.h"
#include "study/plan.h"

namespace scaledl::cli {

namespace {

using namespace scaledl::study;

struct PlanArgs {
  std::string model, precision = "fp32", calibrate, comm_bench, comm_bench_link = "intra";
  std::string devices = "1,2,4,8,16,32", intra_bw = "12GB/s", intra_latency = "5us";
  std::string inter_bw = "100Gb/s", inter_latency = "5us", allreduce = "ring", storage_bw = "0";
  std::vector<std::string> compare;
  int64_t params = 0, batch = 64;
  double device_ips = 0, overlap = 0, backward_fraction = 2.0 / 3, overhead = 0;
  double bytes_per_image = 110e3, host_cpu = 0, cores_per_device = 0;
  int devices_per_node = 4;
  bool json = false;
  CLI::App* app = nullptr;
  bool given(const char* flag) const { return app->count(flag) > 0; }
};

int64_t model_params(const std::string& model) {
  for (const ModelInfo& m : model_list())
    if (m.name == model) return build_graph(m.name, 3, m.default_image_size, 1000).num_params();
  std::string known;
  for (const ModelInfo& m : model_list()) known += (known.empty() ? "" : ", ") + m.name;
  throw Error("plan",
              "--model " + model + ": unknown model; known: " + known + " (or give --params N)");
}

// Defaults, then the run's terms, then the comm bench's link, then the flags given.
PlanInput build_input(const PlanArgs& a, RunMeasure* run, LinkFit* bench) {
  PlanInput in;
  in.batch_per_device = a.batch;
  in.backward_fraction = a.backward_fraction;
  in.devices_per_node = a.devices_per_node;
  in.intra = {parse_bandwidth(a.intra_bw, "--intra-bw"),
              parse_latency(a.intra_latency, "--intra-latency")};
  in.inter = {parse_bandwidth(a.inter_bw, "--inter-bw"),
              parse_latency(a.inter_latency, "--inter-latency")};
  in.algorithm = parse_allreduce(a.allreduce);
  in.precision = parse_precision(a.precision);
  in.overlap = a.overlap;
  in.bytes_per_image = a.bytes_per_image;
  in.storage_bytes_per_s = a.storage_bw == "0" ? 0 : parse_bandwidth(a.storage_bw, "--storage-bw");
  if (!a.model.empty()) in.params = model_params(a.model);
  if (run) calibrate(in, *run);
  if (bench) (a.comm_bench_link == "inter" ? in.inter : in.intra) = bench->link;
  if (a.given("--params")) in.params = a.params;
  if (a.given("--device-ips")) in.device_ips = a.device_ips;
  if (a.given("--batch-per-device")) in.batch_per_device = a.batch;
  if (a.given("--backward-fraction")) in.backward_fraction = a.backward_fraction;
  if (a.given("--step-overhead")) in.step_overhead_s = a.overhead;
  if (a.given("--overlap")) in.overlap = a.overlap;
  in.cores_per_device = a.cores_per_device;
  if (a.given("--host-cpu")) in.host_cpu_s = a.host_cpu;
  if (a.given("--precision")) in.precision = parse_precision(a.precision);
  if (a.given("--intra-bw")) in.intra.bytes_per_s = parse_bandwidth(a.intra_bw, "--intra-bw");
  if (a.given("--intra-latency"))
    in.intra.latency_s = parse_latency(a.intra_latency, "--intra-latency");
  if (a.given("--inter-bw")) in.inter.bytes_per_s = parse_bandwidth(a.inter_bw, "--inter-bw");
  if (a.given("--inter-latency"))
    in.inter.latency_s = parse_latency(a.inter_latency, "--inter-latency");
  validate(in);
  return in;
}

nlohmann::json row_json(const PlanRow& r) {
  return {{"devices", r.devices},
          {"nodes", r.nodes},
          {"images_per_sec", r.images_per_sec},
          {"speedup", r.speedup},
          {"efficiency", r.efficiency},
          {"step_s", r.step_s},
          {"compute_s", r.compute_s},
          {"overhead_s", r.overhead_s},
          {"comm_s", r.comm_s},
          {"comm_exposed_s", r.comm_exposed_s},
          {"network_gbps_per_node", r.network_gbps_per_node},
          {"storage_gbps_per_node", r.storage_gbps_per_node},
          {"storage_bound", r.storage_bound},
          {"cpu_bound", r.cpu_bound},
          {"bottleneck", r.bottleneck}};
}

nlohmann::json input_json(const PlanInput& in) {
  return {{"params", in.params},
          {"precision", name(in.precision)},
          {"gradient_bytes", gradient_bytes(in.params, in.precision)},
          {"device_ips", in.device_ips},
          {"batch_per_device", in.batch_per_device},
          {"backward_fraction", in.backward_fraction},
          {"step_overhead_s", in.step_overhead_s},
          {"devices_per_node", in.devices_per_node},
          {"intra_bytes_per_s", in.intra.bytes_per_s},
          {"intra_latency_s", in.intra.latency_s},
          {"inter_bytes_per_s", in.inter.bytes_per_s},
          {"inter_latency_s", in.inter.latency_s},
          {"allreduce", name(in.algorithm)},
          {"overlap", in.overlap},
          {"bytes_per_image", in.bytes_per_image},
          {"storage_bytes_per_s", in.storage_bytes_per_s},
          {"host_cpu_s", in.host_cpu_s},
          {"cores_per_device", in.cores_per_device}};
}

void print_table(const PlanInput& in, const Plan& plan, const std::string& what) {
  std::printf(
      "scaledl plan: %s: %lld parameters, %s gradients %.1f MB; %.1f images/s per device "
      "at batch %lld\n",
      what.c_str(), static_cast<long long>(in.params), name(in.precision),
      gradient_bytes(in.params, in.precision) / 1e6, in.device_ips,
      static_cast<long long>(in.batch_per_device));
  std::printf(
      "  %d devices per node; intra %.3g GB/s %.3g us; inter %.3g Gb/s %.3g us; %s "
      "allreduce, overlap %.2f; %.0f bytes per image%s\n",
      in.devices_per_node, in.intra.bytes_per_s / 1e9, in.intra.latency_s * 1e6,
      in.inter.bytes_per_s * 8 / 1e9, in.inter.latency_s * 1e6, name(in.algorithm), in.overlap,
      in.bytes_per_image, in.storage_bytes_per_s > 0 ? "" : ", storage unlimited");
  std::printf("%8s %6s %11s %8s %6s %11s %11s %11s %10s %10s  %s\n", "devices", "nodes", "images/s",
              "speedup", "eff%", "compute_ms", "comm_ms", "exposed_ms", "net_Gb/s", "stor_Gb/s",
              "bottleneck");
  for (const PlanRow& r : plan.rows)
    std::printf("%8d %6d %11.1f %8.2f %6.1f %11.3f %11.3f %11.3f %10.2f %10.2f  %s\n", r.devices,
                r.nodes, r.images_per_sec, r.speedup, 100 * r.efficiency,
                (r.compute_s + r.overhead_s) * 1e3, r.comm_s * 1e3, r.comm_exposed_s * 1e3,
                r.network_gbps_per_node, r.storage_gbps_per_node, r.bottleneck.c_str());
  std::printf("net_Gb/s and stor_Gb/s: per node (NIC bytes sent; images read from storage)\n");
  std::printf("first bottleneck: %s\n", plan.first_bottleneck.c_str());
}

}  // namespace

Runner add_cluster_plan(CLI::App& app) {
  auto a = std::make_shared<PlanArgs>();
  CLI::App* c = app.add_subcommand(
      "plan", "Size a cluster: images/s, scaling, network and storage per node (docs/sizing.md)");
  a->app = c;
  c->add_option("--model", a->model, "Model whose parameter count sizes the gradients");
  c->add_option("--params", a->params, "Parameters (instead of --model)");
  c->add_option("--precision", a->precision, "Gradient element on the wire: fp32, fp16, bf16")
      ->capture_default_str();
  c->add_option("--device-ips", a->device_ips, "Images/s of one device alone");
  c->add_option("--calibrate", a->calibrate,
                "Run folder of scaledl train: device speed, phases, overlap, link from it");
  c->add_option("--comm-bench", a->comm_bench,
                "scaledl comm bench --json file: the link's bandwidth and latency");
  c->add_option("--comm-bench-link", a->comm_bench_link, "Which link the bench measured")
      ->check(CLI::IsMember({"intra", "inter"}))
      ->capture_default_str();
  c->add_option("--compare", a->compare,
                "Run folders to predict at their rank count and compare with (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("--devices", a->devices, "Device counts: 1,2,4 or a range of powers of 2, 1-32")
      ->capture_default_str();
  c->add_option("--devices-per-node", a->devices_per_node, "Devices sharing one node and NIC")
      ->capture_default_str();
  c->add_option("--intra-bw", a->intra_bw, "Device-to-device bandwidth inside a node")
      ->capture_default_str();
  c->add_option("--intra-latency", a->intra_latency, "Latency inside a node")
      ->capture_default_str();
  c->add_option("--inter-bw", a->inter_bw, "Bandwidth of each node's NIC")->capture_default_str();
  c->add_option("--inter-latency", a->inter_latency, "Latency between nodes")
      ->capture_default_str();
  c->add_option("--allreduce", a->allreduce, "ring, tree or hierarchical")->capture_default_str();
  c->add_option("--overlap", a->overlap, "Share of the allreduce that runs during backward, 0..1")
      ->capture_default_str();
  c->add_option("--batch-per-device", a->batch, "Images per step per device")
      ->capture_default_str();
  c->add_option("--backward-fraction", a->backward_fraction, "Backward's share of compute")
      ->capture_default_str();
  c->add_option("--step-overhead", a->overhead, "Seconds per step outside compute and comm")
      ->capture_default_str();
  c->add_option("--bytes-per-image", a->bytes_per_image, "Bytes read from storage per image")
      ->capture_default_str();
  c->add_option("--storage-bw", a->storage_bw, "Aggregate storage bandwidth (0: unlimited)")
      ->capture_default_str();
  c->add_option("--host-cpu", a->host_cpu,
                "CPU seconds per step per device, every thread (from --calibrate: the monitor's)")
      ->capture_default_str();
  c->add_option("--cores-per-device", a->cores_per_device,
                "Host cores each device's process may use (0: unlimited)")
      ->capture_default_str();
  c->add_flag("--json", a->json, "Print JSON instead of the table");
  return [a] {
    std::unique_ptr<RunMeasure> run;
    std::unique_ptr<LinkFit> bench;
    if (!a->calibrate.empty()) run = std::make_unique<RunMeasure>(read_run(a->calibrate));
    if (!a->comm_bench.empty()) bench = std::make_unique<LinkFit>(read_comm_bench(a->comm_bench));
    std::vector<RunMeasure> others;
    for (const std::string& d : a->compare) others.push_back(read_run(d));
    const PlanInput in = build_input(*a, run.get(), bench.get());
    const Plan plan = make_plan(in, parse_devices(a->devices, "--devices"));
    std::vector<std::pair<std::string, Comparison>> comparisons;
    if (run) comparisons.emplace_back(run->dir, compare(in, *run));
    for (const RunMeasure& m : others) comparisons.emplace_back(m.dir, compare(in, m));
    if (a->json) {
      nlohmann::json j = {{"input", input_json(in)}, {"first_bottleneck", plan.first_bottleneck}};
      for (const PlanRow& r : plan.rows) j["rows"].push_back(row_json(r));
      if (run)
        j["calibration"] = {{"run", run->dir},
                            {"world_size", run->world_size},
                            {"batch", run->batch},
                            {"records", run->records},
                            {"forward_s", run->forward_s},
                            {"backward_s", run->backward_s},
                            {"optimizer_s", run->optimizer_s},
                            {"data_s", run->data_s},
                            {"allreduce_s", run->allreduce_s},
                            {"cpu_s", run->cpu_s}};
      if (bench)
        j["comm_bench"] = {{"file", a->comm_bench},
                           {"link", a->comm_bench_link},
                           {"ranks", bench->ranks},
                           {"bytes_per_s", bench->link.bytes_per_s},
                           {"latency_s", bench->link.latency_s}};
      for (const auto& [dir, cmp] : comparisons)
        j["comparisons"].push_back({{"run", dir},
                                    {"devices", cmp.devices},
                                    {"predicted_ips", cmp.predicted_ips},
                                    {"measured_ips", cmp.measured_ips},
                                    {"error", cmp.error}});
      std::printf("%s\n", j.dump(1).c_str());
      return 0;
    }
    std::string what = !a->model.empty() ? a->model : "model";
    if (run) {
      what = (run->model.empty() ? what : run->model) + " calibrated from " + run->dir;
      std::printf(
          "calibration: %s: %d rank(s), batch %lld per rank, per step forward %.3f ms, "
          "backward %.3f ms, optimizer %.3f ms, data wait %.3f ms, allreduce %.3f ms "
          "(%d records)\n",
          run->dir.c_str(), run->world_size, static_cast<long long>(run->batch),
          run->forward_s * 1e3, run->backward_s * 1e3, run->optimizer_s * 1e3, run->data_s * 1e3,
          run->allreduce_s * 1e3, run->records);
    }
    if (bench)
      std::printf("comm bench: %s: %d ranks, %s link %.3g GB/s, latency %.3g us\n",
                  a->comm_bench.c_str(), bench->ranks, a->comm_bench_link.c_str(),
                  bench->link.bytes_per_s / 1e9, bench->link.latency_s * 1e6);
    print_table(in, plan, what);
    for (const auto& [dir, cmp] : comparisons)
      std::printf("compared: %s (%d rank(s)): predicted %.1f images/s, measured %.1f (%+.1f%%)\n",
                  dir.c_str(), cmp.devices, cmp.predicted_ips, cmp.measured_ips, 100 * cmp.error);
    return 0;
  };
}

}  // namespace scaledl::cli
