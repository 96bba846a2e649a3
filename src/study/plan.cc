// The sizing model: allreduce costs, overlap with backward, storage demand, bottlenecks.
#include "study/plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace scaledl::study {

namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

[[noreturn]] void bad(const std::string& what) {
  throw Error("plan", what);
}

// The number at the front of `text` and the rest; throws naming `flag` when there is none.
double leading_number(const std::string& text, const std::string& flag, std::string& rest,
                      const std::string& example) {
  const char* begin = text.c_str();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(v))
    bad(flag + " '" + text + "': not a number with a unit; e.g. " + example);
  rest = std::string(end);
  rest.erase(0, rest.find_first_not_of(' '));
  return v;
}

int ceil_log2(int p) {
  int l = 0;
  while ((1 << l) < p) ++l;
  return l;
}

}  // namespace

double gradient_bytes(int64_t params, GradPrecision p) {
  return static_cast<double>(params) * (p == GradPrecision::fp32 ? 4.0 : 2.0);
}

double ring_allreduce_s(int p, double bytes, const Link& link) {
  if (p <= 1) return 0;
  return 2.0 * (p - 1) / p * bytes / link.bytes_per_s + 2.0 * (p - 1) * link.latency_s;
}

double tree_allreduce_s(int p, double bytes, const Link& link) {
  if (p <= 1) return 0;
  return 2.0 * bytes / link.bytes_per_s + 2.0 * ceil_log2(p) * link.latency_s;
}

CommCost allreduce_cost(const PlanInput& in, int devices) {
  CommCost c;
  if (devices <= 1) return c;
  const double g = gradient_bytes(in.params, in.precision);
  const int k = std::min(devices, in.devices_per_node);
  const int n = (devices + k - 1) / k;
  if (n == 1) {  // one node: every algorithm runs over the intra-node link
    c.intra_s = in.algorithm == Allreduce::tree ? tree_allreduce_s(devices, g, in.intra)
                                                : ring_allreduce_s(devices, g, in.intra);
    c.seconds = c.intra_s;
    return c;
  }
  const bool inter_slower = in.inter.bytes_per_s <= in.intra.bytes_per_s;
  const double slow_bw = std::min(in.inter.bytes_per_s, in.intra.bytes_per_s);
  switch (in.algorithm) {
    case Allreduce::ring: {
      // One ring through every device, node after node: each node's NIC carries one ring link,
      // every link 2(p-1)/p of the bytes; the slowest link paces every step of the ring.
      const double bw_s = 2.0 * (devices - 1) / devices * g / slow_bw;
      const double lat_s = 2.0 * (devices - 1) * std::max(in.inter.latency_s, in.intra.latency_s);
      (inter_slower ? c.inter_s : c.intra_s) = bw_s + lat_s;
      c.nic_bytes_sent = 2.0 * (devices - 1) / devices * g;
      break;
    }
    case Allreduce::tree: {
      // NCCL's layout: a chain inside each node, a double binary tree across nodes.
      const double bw_s = 2.0 * g / slow_bw;
      c.inter_s = 2.0 * ceil_log2(n) * in.inter.latency_s;
      c.intra_s = 2.0 * (k - 1) * in.intra.latency_s;
      (inter_slower ? c.inter_s : c.intra_s) += bw_s;
      c.nic_bytes_sent = 2.0 * (n - 1) / n * g;
      break;
    }
    case Allreduce::hierarchical: {
      // Reduce-scatter inside the node, k rings of g/k across the nodes sharing the NIC,
      // allgather inside the node.
      c.intra_s = 2.0 * ((k - 1.0) / k * g / in.intra.bytes_per_s + (k - 1) * in.intra.latency_s);
      c.inter_s = ring_allreduce_s(n, g, in.inter);
      c.nic_bytes_sent = 2.0 * (n - 1) / n * g;
      break;
    }
  }
  c.seconds = c.intra_s + c.inter_s;
  return c;
}

void validate(const PlanInput& in) {
  if (in.params <= 0) bad("no gradient size: give --model NAME, --params N or --calibrate RUN_DIR");
  if (!(in.device_ips > 0))
    bad("no device speed: give --device-ips N (one device's images/s) or --calibrate RUN_DIR");
  if (in.batch_per_device <= 0)
    bad("--batch-per-device " + std::to_string(in.batch_per_device) + ": want 1 or more images");
  if (!(in.backward_fraction >= 0 && in.backward_fraction <= 1))
    bad("--backward-fraction " + num(in.backward_fraction) + ": want a share between 0 and 1");
  if (!(in.step_overhead_s >= 0))
    bad("--step-overhead " + num(in.step_overhead_s) + ": want 0 or more seconds");
  if (in.devices_per_node < 1)
    bad("--devices-per-node " + std::to_string(in.devices_per_node) + ": want 1 or more");
  if (!(in.intra.bytes_per_s > 0)) bad("--intra-bw: want a bandwidth above 0, e.g. 150GB/s");
  if (!(in.inter.bytes_per_s > 0)) bad("--inter-bw: want a bandwidth above 0, e.g. 100Gb/s");
  if (!(in.intra.latency_s >= 0)) bad("--intra-latency: want 0 or more, e.g. 2us");
  if (!(in.inter.latency_s >= 0)) bad("--inter-latency: want 0 or more, e.g. 5us");
  if (!(in.overlap >= 0 && in.overlap <= 1))
    bad("--overlap " + num(in.overlap) + ": want a share between 0 and 1");
  if (!(in.bytes_per_image >= 0))
    bad("--bytes-per-image " + num(in.bytes_per_image) + ": want 0 or more bytes");
  if (!(in.storage_bytes_per_s >= 0)) bad("--storage-bw: want 0 (unlimited) or a bandwidth");
  if (!(in.host_cpu_s >= 0)) bad("--host-cpu " + num(in.host_cpu_s) + ": want 0 or more seconds");
  if (!(in.cores_per_device >= 0))
    bad("--cores-per-device " + num(in.cores_per_device) + ": want 0 (unlimited) or more");
}

PlanRow predict(const PlanInput& in, int devices) {
  validate(in);
  if (devices < 1) bad("--devices " + std::to_string(devices) + ": want 1 or more devices");
  PlanRow r;
  r.devices = devices;
  const int k = std::min(devices, in.devices_per_node);
  r.nodes = (devices + k - 1) / k;
  const double batch = static_cast<double>(in.batch_per_device);
  r.compute_s = batch / in.device_ips;
  r.overhead_s = in.step_overhead_s;
  const CommCost c = allreduce_cost(in, devices);
  r.comm_s = c.seconds;
  const double hidden = std::min(in.overlap * c.seconds, in.backward_fraction * r.compute_s);
  r.comm_exposed_s = c.seconds - hidden;
  r.step_s = r.compute_s + r.overhead_s + r.comm_exposed_s;
  // Host CPU: a step cannot take less than the CPU time of its threads (compute, decoding,
  // communication) spread over the cores the device's process has.
  auto cpu_floor = [&](double step) {
    return in.cores_per_device > 0 ? std::max(step, in.host_cpu_s / in.cores_per_device) : step;
  };
  if (cpu_floor(r.step_s) > r.step_s) {
    r.cpu_bound = true;
    r.step_s = cpu_floor(r.step_s);
  }
  r.images_per_sec = devices * batch / r.step_s;
  // Storage: every image is read once; an aggregate limit caps the cluster's images/s.
  auto storage_cap = [&](double ips) {
    if (in.storage_bytes_per_s > 0 && in.bytes_per_image > 0)
      return std::min(ips, in.storage_bytes_per_s / in.bytes_per_image);
    return ips;
  };
  const double capped = storage_cap(r.images_per_sec);
  if (capped < r.images_per_sec) {
    r.storage_bound = true;
    r.images_per_sec = capped;
    r.step_s = devices * batch / capped;
  }
  const double one = storage_cap(batch / cpu_floor(r.compute_s + r.overhead_s));
  r.speedup = r.images_per_sec / one;
  r.efficiency = r.speedup / devices;
  r.network_gbps_per_node = c.nic_bytes_sent / r.step_s * 8 / 1e9;
  r.storage_gbps_per_node = r.images_per_sec / r.nodes * in.bytes_per_image * 8 / 1e9;
  if (r.storage_bound)
    r.bottleneck = "storage";
  else if (r.cpu_bound)
    r.bottleneck = "host CPU";
  else if (r.comm_exposed_s > kBottleneckShare * r.step_s)
    r.bottleneck = c.inter_s >= c.intra_s ? "inter-node allreduce" : "intra-node allreduce";
  else
    r.bottleneck = "compute";
  return r;
}

Plan make_plan(const PlanInput& in, const std::vector<int>& devices) {
  validate(in);
  if (devices.empty()) bad("--devices: want at least one device count, e.g. 1,2,4,8");
  Plan p;
  for (int d : devices) p.rows.push_back(predict(in, d));
  for (const PlanRow& r : p.rows) {
    if (r.bottleneck == "compute") continue;
    char b[256];
    if (r.storage_bound)
      std::snprintf(b, sizeof b,
                    "storage from %d devices: the cluster would read %.1f Gb/s, storage gives "
                    "%.1f Gb/s (efficiency %.0f%%)",
                    r.devices,
                    r.devices * in.batch_per_device /
                        (r.compute_s + r.overhead_s + r.comm_exposed_s) * in.bytes_per_image * 8 /
                        1e9,
                    in.storage_bytes_per_s * 8 / 1e9, 100 * r.efficiency);
    else if (r.cpu_bound)
      std::snprintf(b, sizeof b,
                    "host CPU from %d devices: %.1f ms of CPU per step on %g core(s) per device "
                    "(efficiency %.0f%%)",
                    r.devices, in.host_cpu_s * 1e3, in.cores_per_device, 100 * r.efficiency);
    else
      std::snprintf(b, sizeof b,
                    "%s from %d devices: exposed communication is %.0f%% of the step "
                    "(efficiency %.0f%%)",
                    r.bottleneck.c_str(), r.devices, 100 * r.comm_exposed_s / r.step_s,
                    100 * r.efficiency);
    p.first_bottleneck = b;
    return p;
  }
  char b[160];
  std::snprintf(b, sizeof b, "none up to %d devices: compute-bound (efficiency %.0f%%)",
                p.rows.back().devices, 100 * p.rows.back().efficiency);
  p.first_bottleneck = b;
  return p;
}

double parse_bandwidth(const std::string& text, const std::string& flag) {
  std::string unit;
  const double v = leading_number(text, flag, unit, "100Gb/s or 12.5GB/s");
  double scale = 0;
  if (unit.empty() || unit == "Gb/s" || unit == "Gbit/s" || unit == "Gbps")
    scale = 1e9 / 8;
  else if (unit == "GB/s" || unit == "GBps")
    scale = 1e9;
  else if (unit == "Mb/s" || unit == "Mbit/s" || unit == "Mbps")
    scale = 1e6 / 8;
  else if (unit == "MB/s" || unit == "MBps")
    scale = 1e6;
  else if (unit == "Tb/s" || unit == "Tbit/s")
    scale = 1e12 / 8;
  else
    bad(flag + " '" + text + "': unknown unit '" + unit +
        "'; use Gb/s, GB/s, Mb/s, MB/s (a bare number is Gb/s)");
  if (!(v > 0)) bad(flag + " '" + text + "': want a bandwidth above 0, e.g. 100Gb/s");
  return v * scale;
}

double parse_latency(const std::string& text, const std::string& flag) {
  std::string unit;
  const double v = leading_number(text, flag, unit, "5us or 0.5ms");
  double scale = 0;
  if (unit.empty() || unit == "us")
    scale = 1e-6;
  else if (unit == "ns")
    scale = 1e-9;
  else if (unit == "ms")
    scale = 1e-3;
  else if (unit == "s")
    scale = 1;
  else
    bad(flag + " '" + text + "': unknown unit '" + unit + "'; use ns, us, ms or s");
  if (!(v >= 0)) bad(flag + " '" + text + "': want a latency of 0 or more, e.g. 5us");
  return v * scale;
}

std::vector<int> parse_devices(const std::string& text, const std::string& flag) {
  std::vector<int> out;
  auto one = [&](const std::string& s) {
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0')
      bad(flag + " '" + text + "': want device counts like 1,2,4,8 or a range 1-32");
    if (v < 1 || v > (1 << 24))
      bad(flag + " '" + text + "': device count " + s + " is impossible; want 1 or more");
    return static_cast<int>(v);
  };
  const size_t dash = text.find('-', 1);
  if (dash != std::string::npos && text.find(',') == std::string::npos) {
    const int lo = one(text.substr(0, dash)), hi = one(text.substr(dash + 1));
    if (lo > hi) bad(flag + " '" + text + "': the range ends below its start");
    for (long d = lo; d <= hi; d *= 2) out.push_back(static_cast<int>(d));
    if (out.back() != hi) out.push_back(hi);
    return out;
  }
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    out.push_back(
        one(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Allreduce parse_allreduce(const std::string& text) {
  if (text == "ring") return Allreduce::ring;
  if (text == "tree") return Allreduce::tree;
  if (text == "hierarchical") return Allreduce::hierarchical;
  bad("--allreduce '" + text + "': want ring, tree or hierarchical");
}

GradPrecision parse_precision(const std::string& text) {
  if (text == "fp32" || text == "f32") return GradPrecision::fp32;
  if (text == "fp16" || text == "f16") return GradPrecision::fp16;
  if (text == "bf16") return GradPrecision::bf16;
  bad("--precision '" + text + "': want fp32, fp16 or bf16");
}

const char* name(Allreduce a) {
  switch (a) {
    case Allreduce::ring:
      return "ring";
    case Allreduce::tree:
      return "tree";
    case Allreduce::hierarchical:
      return "hierarchical";
  }
  return "?";
}

const char* name(GradPrecision p) {
  switch (p) {
    case GradPrecision::fp32:
      return "fp32";
    case GradPrecision::fp16:
      return "fp16";
    case GradPrecision::bf16:
      return "bf16";
  }
  return "?";
}

}  // namespace scaledl::study
