// The runs the portal shows: every run folder (one holding summary.json or status.json) up to
// three levels under each --runs root, who owns it (the folder's owner), how it stands, and its
// summary. Ids are paths relative to the root ("alice/train-20261203-101500"); with several
// roots the first root holding an id wins.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "portal/run_files.h"

namespace scaledl::portal {

struct RunRef {
  std::string id;     // relative to its root
  std::string root;   // the root's real path
  std::string dir;    // root + "/" + id
  std::string owner;  // user name of the folder's owner
};

struct RunInfo {
  RunRef ref;
  nlohmann::json summary;  // null when absent
  nlohmann::json status;   // null when absent
  RunState state;
  std::string model;
  int64_t step = -1;   // -1: unknown
  std::string job_id;  // from job.json (scaledl submit), "" when none
};

// Who is asking: a user sees their own runs; an admin sees every run.
struct Viewer {
  std::string user;
  bool admin = false;
  bool may_see(const RunRef& r) const { return admin || r.owner == user; }
};

class RunIndex {
 public:
  // Each root made absolute and real; Error naming --runs when one is missing or unreadable.
  explicit RunIndex(const std::vector<std::string>& roots);
  const std::vector<std::string>& roots() const { return roots_; }

  // Every run folder under the roots, sorted by id.
  std::vector<RunRef> scan() const;
  // The run `raw_id` (from a URL; cleaned here). bad_id: not a valid id; not_found: no such
  // run folder inside a root (a link anywhere on the way counts as not found).
  enum class Lookup { found, bad_id, not_found };
  Lookup find(std::string_view raw_id, RunRef* out) const;
  // The run whose folder is `path` (absolute, as a Slurm job's working directory), if indexed.
  std::optional<RunRef> find_dir(const std::string& path) const;

 private:
  void scan_dir(size_t root, const std::string& rel, int depth, std::vector<RunRef>& out) const;
  std::vector<std::string> roots_;
};

// Reads the run's status.json, summary.json and job.json.
RunInfo load_run(const RunRef& ref, double now, const std::string& host);
// The summary's numeric top-level values ("top1", "images_per_sec", ...), "schema" left out.
std::vector<std::pair<std::string, double>> summary_metrics(const nlohmann::json& summary);
// The API's object for a run: id, owner, dir, state, line, model, step, job_id, metrics, and
// with `full` the summary and status records.
nlohmann::json run_json(const RunInfo& r, bool full);

}  // namespace scaledl::portal
