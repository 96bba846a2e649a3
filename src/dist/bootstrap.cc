// Launcher detection from the environment and Slurm hostlist expansion.
#include "dist/bootstrap.h"

#include <string_view>

#include "core/error.h"

namespace scaledl {

namespace {

// A launcher that names more hosts than this is a typo ("node[1-999999999]"), not a cluster.
constexpr size_t kMaxHosts = 1 << 20;

[[noreturn]] void bad_hostlist(const std::string& list, const std::string& why) {
  throw Error("dist", "malformed hostlist '" + list + "': " + why +
                          "; expected Slurm syntax like node[01-03,07],gpu5");
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// One bracket group's contents ("01-03,07") -> {"01", "02", "03", "07"}.
std::vector<std::string> expand_ranges(const std::string& list, std::string_view body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t comma = body.find(',', pos);
    if (comma == std::string_view::npos) comma = body.size();
    std::string_view item = body.substr(pos, comma - pos);
    size_t dash = item.find('-');
    std::string_view lo = item.substr(0, dash);
    std::string_view hi = dash == std::string_view::npos ? lo : item.substr(dash + 1);
    if (!all_digits(lo) || !all_digits(hi) || lo.size() > 9 || hi.size() > 9)
      bad_hostlist(list, "'[" + std::string(body) + "]' needs numbers or ranges like 01-03");
    const long a = std::stol(std::string(lo)), b = std::stol(std::string(hi));
    if (a > b) bad_hostlist(list, "range " + std::string(item) + " runs backwards");
    if (out.size() + static_cast<size_t>(b - a + 1) > kMaxHosts)
      bad_hostlist(list, "more than " + std::to_string(kMaxHosts) + " hosts");
    // Slurm pads every number to the width of the range's low end ("08-10": 08 09 10).
    for (long v = a; v <= b; ++v) {
      std::string s = std::to_string(v);
      if (s.size() < lo.size()) s.insert(0, lo.size() - s.size(), '0');
      out.push_back(std::move(s));
    }
    pos = comma + 1;
  }
  return out;
}

// One name with zero or more bracket groups ("rack[1-2]-n[1-2]") -> their product.
void expand_name(const std::string& list, std::string_view name, std::vector<std::string>& out) {
  std::vector<std::string> partial{""};
  size_t pos = 0;
  while (pos < name.size()) {
    size_t open = name.find('[', pos);
    const std::string_view literal = name.substr(pos, open == std::string_view::npos ? open : open - pos);
    if (literal.find(']') != std::string_view::npos) bad_hostlist(list, "']' without '['");
    for (std::string& p : partial) p += literal;
    if (open == std::string_view::npos) break;
    size_t close = name.find(']', open);
    if (close == std::string_view::npos) bad_hostlist(list, "'[' without ']'");
    std::string_view body = name.substr(open + 1, close - open - 1);
    if (body.find('[') != std::string_view::npos) bad_hostlist(list, "nested '['");
    std::vector<std::string> suffixes = expand_ranges(list, body);
    if (partial.size() * suffixes.size() > kMaxHosts)
      bad_hostlist(list, "more than " + std::to_string(kMaxHosts) + " hosts");
    std::vector<std::string> next;
    next.reserve(partial.size() * suffixes.size());
    for (const std::string& p : partial)
      for (const std::string& s : suffixes) next.push_back(p + s);
    partial = std::move(next);
    pos = close + 1;
  }
  if (out.size() + partial.size() > kMaxHosts)
    bad_hostlist(list, "more than " + std::to_string(kMaxHosts) + " hosts");
  for (std::string& p : partial) out.push_back(std::move(p));
}

// The environment, with the variable named in every error.
class Env {
 public:
  explicit Env(const std::function<const char*(const char*)>& env) : env_(env) {}

  bool has(const char* name) const { return env_(name) != nullptr; }
  std::string str(const char* name) const {
    const char* v = env_(name);
    return v ? v : "";
  }
  // A non-negative int; `fallback` when unset.
  int num(const char* name, int fallback) const {
    const char* v = env_(name);
    if (!v) return fallback;
    return parse(name, v);
  }
  int required(const char* name, const char* because) const {
    const char* v = env_(name);
    if (!v)
      throw Error("dist", std::string(name) + " is not set but " + because +
                              " is; the launcher sets both, so set both or neither");
    return parse(name, v);
  }
  [[noreturn]] void bad(const char* name, const std::string& why) const {
    throw Error("dist", std::string(name) + "='" + str(name) + "' " + why +
                            "; check the launcher's environment");
  }

 private:
  int parse(const char* name, std::string_view v) const {
    if (!all_digits(v) || v.size() > 9) bad(name, "is not a non-negative number");
    return std::stoi(std::string(v));
  }
  const std::function<const char*(const char*)>& env_;
};

// Slurm's tasks-per-node ("2(x3),1" = 2,2,2,1) for node `node_id`.
int slurm_tasks_on_node(const Env& e, const char* name, int node_id) {
  const std::string v = e.str(name);
  int index = 0;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t comma = v.find(',', pos);
    if (comma == std::string::npos) comma = v.size();
    std::string_view item = std::string_view(v).substr(pos, comma - pos);
    std::string_view count = item, repeat = "1";
    if (size_t paren = item.find("(x"); paren != std::string_view::npos) {
      if (item.back() != ')') e.bad(name, "is not like 2(x3),1");
      count = item.substr(0, paren);
      repeat = item.substr(paren + 2, item.size() - paren - 3);
    }
    if (!all_digits(count) || !all_digits(repeat) || count.size() > 9 || repeat.size() > 9)
      e.bad(name, "is not like 2(x3),1");
    index += std::stoi(std::string(repeat));
    if (node_id < index) return std::stoi(std::string(count));
    pos = comma + 1;
  }
  e.bad(name, "lists fewer nodes than SLURM_NODEID " + std::to_string(node_id) + " needs");
}

void check_ranks(const Env& e, const LaunchInfo& li, const char* rank_var, const char* world_var,
                 const char* local_var, const char* local_world_var) {
  if (li.world < 1) e.bad(world_var, "must be at least 1");
  if (li.rank >= li.world)
    e.bad(rank_var, "is not below " + std::string(world_var) + "=" + std::to_string(li.world));
  if (li.local_world < 1 || li.local_world > li.world)
    e.bad(local_world_var, "must be between 1 and " + std::string(world_var) + "=" +
                               std::to_string(li.world));
  if (li.local_rank >= li.local_world)
    e.bad(local_var, "is not below the local world size " + std::to_string(li.local_world) + " (" +
                         local_world_var + ")");
}

LaunchInfo from_open_mpi(const Env& e) {
  LaunchInfo li;
  li.launcher = "mpirun";
  li.rank = e.required("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE");
  li.world = e.required("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK");
  li.local_rank = e.num("OMPI_COMM_WORLD_LOCAL_RANK", 0);
  li.local_world = e.num("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  check_ranks(e, li, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
              "OMPI_COMM_WORLD_LOCAL_SIZE");
  return li;
}

LaunchInfo from_slurm(const Env& e) {
  LaunchInfo li;
  li.launcher = "srun";
  li.rank = e.num("SLURM_PROCID", 0);
  const char* world_var = e.has("SLURM_NTASKS") ? "SLURM_NTASKS" : "SLURM_NPROCS";
  li.world = e.required(world_var, "SLURM_PROCID");
  li.local_rank = e.num("SLURM_LOCALID", 0);
  const char* local_world_var = "SLURM_NTASKS_PER_NODE";
  if (e.has(local_world_var)) {
    li.local_world = e.num(local_world_var, 1);
  } else if (e.has("SLURM_TASKS_PER_NODE")) {
    local_world_var = "SLURM_TASKS_PER_NODE";
    li.local_world = slurm_tasks_on_node(e, local_world_var, e.num("SLURM_NODEID", 0));
  }
  check_ranks(e, li, "SLURM_PROCID", world_var, "SLURM_LOCALID", local_world_var);
  const char* nodes_var = e.has("SLURM_JOB_NODELIST") ? "SLURM_JOB_NODELIST" : "SLURM_NODELIST";
  try {
    li.nodes = expand_hostlist(e.str(nodes_var));
  } catch (const Error& err) {
    e.bad(nodes_var, std::string("is not a hostlist (") + err.what() + ")");
  }
  // torchrun-style variables, when a job script sets them, name the rendezvous; otherwise the
  // first node is the natural one (it runs rank 0 under Slurm's default block distribution).
  li.master_addr = e.has("MASTER_ADDR") ? e.str("MASTER_ADDR")
                                        : (li.nodes.empty() ? "" : li.nodes.front());
  return li;
}

LaunchInfo from_torchrun(const Env& e) {
  LaunchInfo li;
  li.launcher = "torchrun";
  li.rank = e.required("RANK", "WORLD_SIZE");
  li.world = e.required("WORLD_SIZE", "RANK");
  li.local_rank = e.num("LOCAL_RANK", 0);
  // Launchers that set LOCAL_RANK but not LOCAL_WORLD_SIZE leave the host's share unknown; the
  // whole world is the only bound that is never wrong.
  li.local_world = e.num("LOCAL_WORLD_SIZE", e.has("LOCAL_RANK") ? li.world : 1);
  check_ranks(e, li, "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE");
  li.master_addr = e.str("MASTER_ADDR");
  return li;
}

}  // namespace

std::vector<std::string> expand_hostlist(const std::string& hostlist) {
  std::vector<std::string> out;
  if (hostlist.empty()) return out;
  for (char c : hostlist)
    if (c <= ' ' || c > '~') bad_hostlist(hostlist, "it holds a space or control character");
  // Split at commas outside brackets: "node[1,3],gpu5" is two names.
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= hostlist.size(); ++i) {
    const char c = i < hostlist.size() ? hostlist[i] : ',';
    if (c == '[') ++depth;
    if (c == ']' && --depth < 0) bad_hostlist(hostlist, "']' without '['");
    if (c != ',' || depth > 0) continue;
    if (i == start) bad_hostlist(hostlist, "an empty name");
    expand_name(hostlist, std::string_view(hostlist).substr(start, i - start), out);
    start = i + 1;
  }
  if (depth != 0) bad_hostlist(hostlist, "'[' without ']'");
  return out;
}

LaunchInfo detect_launch(const std::function<const char*(const char*)>& env) {
  const Env e(env);
  LaunchInfo li;
  if (e.has("OMPI_COMM_WORLD_RANK") || e.has("OMPI_COMM_WORLD_SIZE")) {
    li = from_open_mpi(e);
  } else if (e.has("SLURM_PROCID")) {
    li = from_slurm(e);
  } else if (e.has("RANK") || e.has("WORLD_SIZE")) {
    li = from_torchrun(e);
  }
  if (e.has("MASTER_ADDR") && li.master_addr.empty()) li.master_addr = e.str("MASTER_ADDR");
  if (e.has("MASTER_PORT")) {
    li.master_port = e.num("MASTER_PORT", 0);
    if (li.master_port < 1 || li.master_port > 65535) e.bad("MASTER_PORT", "is not a port (1-65535)");
  }
  return li;
}

}  // namespace scaledl
