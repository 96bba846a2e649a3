// Scanning the --runs roots and reading a run's records.
#include "portal/run_index.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "core/error.h"

namespace scaledl::portal {

namespace {

constexpr int kMaxDepth = 3;

bool is_run_dir(int fd) {
  return has_file_at(fd, "summary.json") || has_file_at(fd, "status.json");
}

std::optional<std::string> real_path(const std::string& p) {
  char buf[PATH_MAX];
  if (!::realpath(p.c_str(), buf)) return std::nullopt;
  return std::string(buf);
}

}  // namespace

RunIndex::RunIndex(const std::vector<std::string>& roots) {
  for (const std::string& r : roots) {
    const std::optional<std::string> real = real_path(r);
    struct stat st;
    if (!real || ::stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw Error("portal", "--runs " + r + ": not a folder (" + std::strerror(errno) +
                                "); give a folder that holds run folders");
    if (::access(real->c_str(), R_OK | X_OK) != 0)
      throw Error("portal", "--runs " + r + ": not readable by this process (" +
                                std::strerror(errno) +
                                "); fix its permissions or run as its owner");
    roots_.push_back(*real);
  }
}

void RunIndex::scan_dir(size_t root, const std::string& rel, int depth,
                        std::vector<RunRef>& out) const {
  Fd dir = open_run_dir(roots_[root], rel);
  if (!dir.ok()) return;
  if (!rel.empty() && is_run_dir(dir.get())) {
    out.push_back({rel, roots_[root], roots_[root] + "/" + rel, owner_of(dir.get())});
    return;  // a run folder's subfolders are its own business
  }
  if (depth >= kMaxDepth) return;
  const int fd = ::dup(dir.get());
  DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
  if (!d) {
    if (fd >= 0) ::close(fd);
    return;
  }
  std::vector<std::string> children;
  while (const dirent* e = ::readdir(d)) {
    // Links are never followed; d_type may be unknown on some file systems, then stat says.
    if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
    if (!valid_id_component(e->d_name)) continue;
    children.emplace_back(e->d_name);
  }
  ::closedir(d);
  for (const std::string& c : children)
    scan_dir(root, rel.empty() ? c : rel + "/" + c, depth + 1, out);
}

std::vector<RunRef> RunIndex::scan() const {
  std::vector<RunRef> all;
  for (size_t r = 0; r < roots_.size(); ++r) scan_dir(r, "", 0, all);
  std::vector<RunRef> out;
  std::set<std::string> seen;
  for (RunRef& ref : all)
    if (seen.insert(ref.id).second) out.push_back(std::move(ref));
  std::sort(out.begin(), out.end(), [](const RunRef& a, const RunRef& b) { return a.id < b.id; });
  return out;
}

RunIndex::Lookup RunIndex::find(std::string_view raw_id, RunRef* out) const {
  const std::optional<std::string> id = clean_run_id(raw_id);
  if (!id) return Lookup::bad_id;
  for (const std::string& root : roots_) {
    Fd dir = open_run_dir(root, *id);
    if (!dir.ok() || !is_run_dir(dir.get())) continue;
    // Reached without links, so its real path is root/id; checked again all the same.
    const std::optional<std::string> real = real_path(root + "/" + *id);
    if (!real || real->rfind(root + "/", 0) != 0) continue;
    *out = {*id, root, root + "/" + *id, owner_of(dir.get())};
    return Lookup::found;
  }
  return Lookup::not_found;
}

std::optional<RunRef> RunIndex::find_dir(const std::string& path) const {
  const std::optional<std::string> real = real_path(path);
  if (!real) return std::nullopt;
  for (const std::string& root : roots_) {
    if (real->rfind(root + "/", 0) != 0) continue;
    RunRef ref;
    if (find(real->substr(root.size() + 1), &ref) == Lookup::found && ref.root == root) return ref;
  }
  return std::nullopt;
}

RunInfo load_run(const RunRef& ref, double now, const std::string& host) {
  RunInfo info;
  info.ref = ref;
  Fd dir = open_run_dir(ref.root, ref.id);
  if (!dir.ok()) {
    info.state = {"unknown", "the run folder is gone"};
    return info;
  }
  info.summary = read_json_at(dir.get(), "summary.json");
  info.status = read_json_at(dir.get(), "status.json");
  info.state = run_state(info.status, now, host);
  for (const nlohmann::json* j : {&info.status, &info.summary}) {
    if (!j->is_object()) continue;
    if (info.model.empty() && j->contains("model") && (*j)["model"].is_string())
      info.model = (*j)["model"];
    const char* step_key = j == &info.status ? "step" : "steps";
    if (info.step < 0 && j->contains(step_key) && (*j)[step_key].is_number_integer())
      info.step = (*j)[step_key];
  }
  const nlohmann::json job = read_json_at(dir.get(), "job.json");
  if (job.is_object() && job.contains("job_id")) {
    const nlohmann::json& id = job["job_id"];
    info.job_id = id.is_string() ? id.get<std::string>() : id.is_number() ? id.dump() : "";
  }
  return info;
}

std::vector<std::pair<std::string, double>> summary_metrics(const nlohmann::json& summary) {
  std::vector<std::pair<std::string, double>> out;
  if (!summary.is_object()) return out;
  for (auto it = summary.begin(); it != summary.end(); ++it)
    if (it.value().is_number() && it.key() != "schema")
      out.emplace_back(it.key(), it.value().get<double>());
  return out;
}

nlohmann::json run_json(const RunInfo& r, bool full) {
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [k, v] : summary_metrics(r.summary)) metrics[k] = v;
  nlohmann::json j = {{"id", r.ref.id},         {"owner", r.ref.owner}, {"dir", r.ref.dir},
                      {"state", r.state.state}, {"line", r.state.line}, {"model", r.model},
                      {"step", r.step},         {"job_id", r.job_id},   {"metrics", metrics}};
  if (full) {
    j["summary"] = r.summary;
    j["status"] = r.status;
  }
  return j;
}

}  // namespace scaledl::portal
