// The sizing model behind `scaledl plan`: from one device's step time, the interconnect and the
// gradient bytes, what a cluster of N devices does (images/s, scaling efficiency, network and
// storage Gb/s per node, the first bottleneck). Pure computation; formulas in docs/sizing.md.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace scaledl::study {

enum class Allreduce { ring, tree, hierarchical };
enum class GradPrecision { fp32, fp16, bf16 };

// One kind of link: bandwidth in bytes/s (one direction, per device or per node NIC) and the
// latency of one message.
struct Link {
  double bytes_per_s = 0;
  double latency_s = 0;
};

struct PlanInput {
  int64_t params = 0;  // parameters whose gradients are averaged each step
  GradPrecision precision = GradPrecision::fp32;  // gradient element on the wire
  double device_ips = 0;                          // images/s of one device alone (compute only)
  int64_t batch_per_device = 0;                   // images per step per device
  double backward_fraction = 2.0 / 3;  // backward's share of the compute time (overlap window)
  double step_overhead_s = 0;          // per-step time outside compute and comm (data wait)
  int devices_per_node = 4;
  Link intra;  // device to device inside a node (NVLink, PCIe, memory)
  Link inter;  // node to node: one NIC per node (InfiniBand, Ethernet)
  Allreduce algorithm = Allreduce::ring;
  double overlap = 0;              // 0..1: share of the allreduce that can run during backward
  double bytes_per_image = 110e3;  // read from storage per image
  double storage_bytes_per_s = 0;  // aggregate storage bandwidth; 0: unlimited
  double host_cpu_s = 0;           // CPU seconds per step per device, every thread (decode too)
  double cores_per_device = 0;     // host cores each device's process may use; 0: unlimited
};

// Allreduce time of `bytes` over the devices and how much of it crosses each node's NIC.
struct CommCost {
  double seconds = 0;
  double intra_s = 0, inter_s = 0;  // the parts spent on each kind of link
  double nic_bytes_sent = 0;        // per node per step (0 on one node)
};

struct PlanRow {
  int devices = 0, nodes = 0;
  double compute_s = 0, overhead_s = 0, comm_s = 0, comm_exposed_s = 0, step_s = 0;
  double images_per_sec = 0, speedup = 0, efficiency = 0;
  double network_gbps_per_node = 0;  // NIC traffic sent per node, Gb/s
  double storage_gbps_per_node = 0;  // read from storage per node, Gb/s
  bool storage_bound = false, cpu_bound = false;
  std::string bottleneck;  // compute, host CPU, inter-node allreduce, intra-node allreduce, storage
};

struct Plan {
  std::vector<PlanRow> rows;
  std::string first_bottleneck;  // one sentence
};

// Exposed communication above this share of the step names communication as the bottleneck.
constexpr double kBottleneckShare = 0.05;

double gradient_bytes(int64_t params, GradPrecision p);
// Ring allreduce over p ranks (Patarasuk & Yuan; Thakur et al.): 2(p-1)/p * bytes / bw +
// 2(p-1) * latency.
double ring_allreduce_s(int p, double bytes, const Link& link);
// Pipelined (double binary) tree allreduce: 2 * bytes / bw + 2 * ceil(log2 p) * latency.
double tree_allreduce_s(int p, double bytes, const Link& link);
CommCost allreduce_cost(const PlanInput& in, int devices);

// Throws Error "[plan] ..." naming the first missing or impossible parameter (by its flag).
void validate(const PlanInput& in);
PlanRow predict(const PlanInput& in, int devices);
Plan make_plan(const PlanInput& in, const std::vector<int>& devices);

// "100Gb/s", "12.5GB/s", "900MB/s", "25Gbit/s"; a bare number is Gb/s. Returns bytes/s.
double parse_bandwidth(const std::string& text, const std::string& flag);
// "5us", "1.5ms", "2e-6s"; a bare number is microseconds. Returns seconds.
double parse_latency(const std::string& text, const std::string& flag);
// "1,2,4,8" or "1-32" (powers of two from 1 to 32).
std::vector<int> parse_devices(const std::string& text, const std::string& flag);
Allreduce parse_allreduce(const std::string& text);
GradPrecision parse_precision(const std::string& text);
const char* name(Allreduce a);
const char* name(GradPrecision p);

}  // namespace scaledl::study
