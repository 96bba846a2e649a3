// scaledl doctor: is this node ready for scaledl? One line per check, PASS, WARN (works, with a
// reason: no GPU, no InfiniBand) or FAIL (will not work), and --json: the CPU (model, ISA,
// what oneDNN uses), cores, memory, GPUs and the CUDA libraries, MPI and PMIx, Slurm, InfiniBand
// ports, and with --storage PATH the read MB/s of the files there. Exit 0 unless a check fails.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.hpp>

#include "cli/commands.h"
#include "core/device_memory.h"
#include "core/error.h"
#include "core/threads.h"
#include "dist/mpi_group.h"
#include "ops/ops.h"

namespace scaledl::cli {

namespace fs = std::filesystem;

namespace {
struct Check {
  std::string name, status, detail;  // status: PASS, WARN or FAIL
  nlohmann::json data = nlohmann::json::object();
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The value of "key : value" in /proc/cpuinfo's first processor, or of "Key: value kB" in meminfo.
std::string field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "";
}

std::string run_output(const std::string& cmd, int* code) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return *code = -1, "";
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int rc = ::pclose(p);
  *code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

bool on_path(const std::string& prog) {
  int code = 0;
  run_output("command -v " + prog + " >/dev/null", &code);
  return code == 0;
}

Check cpu_check() {
  const std::string info = read_text("/proc/cpuinfo");
  const std::string model = field(info, "model name");
  std::istringstream flags(" " + field(info, "flags") + " ");
  std::vector<std::string> have;
  for (std::string f; flags >> f;)
    for (const char* want :
         {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"})
      if (f == want) have.push_back(f);
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  const bool amx = isa == dnnl::cpu_isa::avx512_core_amx;
  const bool vnni = amx || isa == dnnl::cpu_isa::avx512_core_vnni ||
                    isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx2_vnni;
  std::string flag_list;
  for (const std::string& f : have) flag_list += (flag_list.empty() ? "" : " ") + f;
  Check c{"cpu", "PASS", model + "; " + (flag_list.empty() ? "no AVX2" : flag_list)};
  c.data = {{"model", model}, {"flags", have}, {"amx", amx}, {"vnni", vnni}};
  if (!amx) {
    c.status = "WARN";
    c.detail += vnni ? "; no AMX: int8 runs on VNNI, bf16 without AMX speed"
                     : "; no AMX or VNNI: int8 and bf16 inference run slower (AVX2 int8 only)";
  } else {
    c.detail += "; AMX: oneDNN runs bf16 and int8 on it";
  }
  return c;
}

Check cores_memory_check() {
  const std::string mem = read_text("/proc/meminfo");
  const double total_gib = std::atof(field(mem, "MemTotal").c_str()) / 1048576.0;
  const double avail_gib = std::atof(field(mem, "MemAvailable").c_str()) / 1048576.0;
  char d[160];
  std::snprintf(d, sizeof d,
                "%d cores for this process, %d threads; %.1f GiB memory, %.1f GiB available",
                available_cores(), num_threads(), total_gib, avail_gib);
  Check c{"cores and memory", avail_gib < 2 ? "WARN" : "PASS", d};
  if (avail_gib < 2) c.detail += "; under 2 GiB free: lower --batch";
  c.data = {{"cores", available_cores()}, {"memory_gib", total_gib}, {"available_gib", avail_gib}};
  return c;
}

Check gpu_check() {
  if (!supports("conv2d_forward", Backend::cuda))
    return {"gpus", "WARN",
            "this build has no CUDA backend (rebuild with -DSCALEDL_CUDA=ON on a GPU host)"};
  const int n = cuda_device_count();
  Check c{"gpus", n > 0 ? "PASS" : "WARN", ""};
  c.data = {{"count", n}, {"libraries", cuda_library_versions()}};
  if (n == 0) {
    c.detail = std::string("no usable GPU: ") + cuda_unavailable_reason() +
               "; CUDA libraries: " + cuda_library_versions();
    return c;
  }
  for (int i = 0; i < n; ++i)
    c.detail += (i ? "; " : "") + ("cuda:" + std::to_string(i) + " " + cuda_device_description(i));
  c.detail += "; " + cuda_library_versions();
  return c;
}

Check peer_check() {
  const int n = supports("conv2d_forward", Backend::cuda) ? cuda_device_count() : 0;
  if (n < 2)
    return {"gpu peer access", "WARN",
            "skipped: " + std::to_string(n) + " GPU(s); needs two or more"};
  return {"gpu peer access", "WARN",
          std::to_string(n) + " GPUs: the peer bandwidth matrix is not measured by this build yet"};
}

Check mpi_check() {
  const std::string lib = mpi_library();
  if (lib.empty()) return {"mpi", "WARN", "this build has no MPI (one process per job)"};
  Check c{"mpi", "PASS", lib};
  c.data["library"] = lib;
  c.data["mpirun"] = on_path("mpirun");
  if (!on_path("mpirun")) c.status = "WARN", c.detail += "; mpirun not on PATH (srun can launch)";
  bool pmix = false;
  for (const char* p : {"/usr/lib/x86_64-linux-gnu/libpmix.so.2",
                        "/usr/lib/aarch64-linux-gnu/libpmix.so.2", "/usr/lib64/libpmix.so.2"})
    pmix = pmix || fs::exists(p);
  c.data["pmix"] = pmix;
  c.detail += pmix ? "; PMIx present (srun --mpi=pmix)"
                   : "; no PMIx library: srun --mpi=pmix will not work";
  if (!pmix) c.status = "WARN";
  return c;
}

Check slurm_check() {
  if (!on_path("sinfo"))
    return {"slurm", "WARN", "no Slurm client (sinfo); scaledl runs without it"};
  int code = 0;
  const std::string out = run_output("timeout 10 sinfo -h -o '%P %a %D %t'", &code);
  Check c{"slurm", code == 0 ? "PASS" : "WARN", ""};
  std::string first = out.substr(0, out.find('\n'));
  c.detail = code == 0
                 ? "controller answers: " + (first.empty() ? std::string("no partitions") : first)
                 : "sinfo failed (controller unreachable or not configured): " + first;
  c.data = {{"reachable", code == 0}};
  return c;
}

Check infiniband_check() {
  const fs::path root = "/sys/class/infiniband";
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    return {"infiniband", "WARN",
            "no InfiniBand devices (/sys/class/infiniband): TCP between nodes"};
  Check c{"infiniband", "PASS", ""};
  nlohmann::json ports = nlohmann::json::array();
  for (const auto& dev : fs::directory_iterator(root, ec))
    for (const auto& port : fs::directory_iterator(dev.path() / "ports", ec)) {
      auto text = [&](const char* f) {
        std::string s = read_text((port.path() / f).string());
        while (!s.empty() && s.back() == '\n') s.pop_back();
        return s;
      };
      ports.push_back({{"device", dev.path().filename().string()},
                       {"port", port.path().filename().string()},
                       {"state", text("state")},
                       {"rate", text("rate")}});
      c.detail += (c.detail.empty() ? "" : "; ") + dev.path().filename().string() + "/" +
                  port.path().filename().string() + " " + text("state") + " " + text("rate");
      if (text("state").find("ACTIVE") == std::string::npos) c.status = "WARN";
    }
  if (ports.empty()) c = {"infiniband", "WARN", "InfiniBand devices without ports"};
  c.data["ports"] = ports;
  return c;
}

// Reads up to 1 GiB of the files under `path` (the kernel's cache dropped for each first).
Check storage_check(const std::string& path) {
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_regular_file(path, ec))
    files.push_back(path);
  else
    for (auto it = fs::recursive_directory_iterator(path, ec);
         it != fs::recursive_directory_iterator() && files.size() < 10000; it.increment(ec))
      if (it->is_regular_file(ec)) files.push_back(it->path());
  uint64_t bytes = 0;
  std::vector<char> buf(4 << 20);
  const auto t0 = std::chrono::steady_clock::now();
  for (const fs::path& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;)
      bytes += static_cast<uint64_t>(n);
    ::close(fd);
    if (bytes >= (uint64_t{1} << 30)) break;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (bytes == 0) return {"storage", "FAIL", path + ": nothing readable there"};
  char d[200];
  std::snprintf(
      d, sizeof d,
      "%s: read %.1f MB in %.2f s: %.0f MB/s (cache dropped per file where the kernel allows)",
      path.c_str(), bytes / 1e6, s, bytes / 1e6 / s);
  Check c{"storage", "PASS", d};
  c.data = {{"path", path}, {"bytes", bytes}, {"seconds", s}, {"mb_per_s", bytes / 1e6 / s}};
  return c;
}
}  // namespace

Runner add_doctor(CLI::App& app) {
  struct Opts {
    bool json = false;
    std::string storage;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand(
      "doctor", "Checks this node: CPU, memory, GPUs, MPI, Slurm, InfiniBand, storage");
  c->add_flag("--json", o->json, "One JSON object: the checks and their data");
  c->add_option("--storage", o->storage, "Also measure read MB/s of the files under this path");
  return [o] {
    std::error_code ec;
    if (!o->storage.empty() && !fs::exists(o->storage, ec))
      throw Error("doctor", "--storage " + o->storage +
                                ": no such file or folder; give a path on the storage to measure");
    std::vector<Check> checks = {cpu_check(), cores_memory_check(), gpu_check(),       peer_check(),
                                 mpi_check(), slurm_check(),        infiniband_check()};
    if (!o->storage.empty()) checks.push_back(storage_check(o->storage));
    bool failed = false;
    nlohmann::json j = nlohmann::json::array();
    for (const Check& k : checks) {
      failed = failed || k.status == "FAIL";
      j.push_back(
          {{"check", k.name}, {"status", k.status}, {"detail", k.detail}, {"data", k.data}});
      if (!o->json)
        std::printf("%-4s %-16s %s\n", k.status.c_str(), k.name.c_str(), k.detail.c_str());
    }
    if (o->json)
      std::printf("%s\n",
                  nlohmann::json{{"version", SCALEDL_VERSION}, {"checks", j}}.dump(2).c_str());
    return failed ? 1 : 0;
  };
}

}  // namespace scaledl::cli
