// The portal's pages as server-rendered HTML: one layout (header, one style sheet, one script),
// the runs table, a run's page, the comparison, the jobs table, the submit form and messages.
// Every value from a run folder or Slurm is HTML-escaped here.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/slurm.h"
#include "portal/run_index.h"

namespace scaledl::portal {

struct PageContext {
  std::string base;  // the URL prefix, ending in '/'
  std::string user;
  bool admin = false;
  std::string csrf;  // for the forms (sign out, submit)
};

// The whole document: `page` names it for the script (body data-page), `attrs` are more
// attributes for <body> (already escaped), `charts` loads Chart.js.
std::string layout(const PageContext& c, const std::string& page, const std::string& title,
                   const std::string& body, const std::string& attrs = "", bool charts = false);
std::string message_page(const PageContext& c, const std::string& title, const std::string& text);

std::string runs_page(const PageContext& c, const std::vector<RunInfo>& runs);
// `tensorboard_note`: "" when TensorBoard can be opened, else why not.
std::string run_page(const PageContext& c, const RunInfo& run, const std::string& tensorboard_note);
std::string compare_page(const PageContext& c, const std::vector<RunInfo>& runs);

struct JobRow {
  cluster::JobInfo job;
  std::string run_id;  // "" when its folder is not an indexed run this user may see
};
std::string jobs_page(const PageContext& c, const std::vector<JobRow>& jobs,
                      const std::string& submitted, const std::string& error);

// The submit form, filled with `values` (field name to value) after a refused POST.
std::string submit_page(const PageContext& c,
                        const std::vector<std::pair<std::string, std::string>>& values,
                        const std::string& error, const std::string& note);

// Shared by pages: a number as people read it (integers without a point, else 4 significant
// digits), and the scalar values of a JSON object flattened ("config.batch") to `depth` levels.
std::string format_number(double v);
std::vector<std::pair<std::string, std::string>> flatten_scalars(const nlohmann::json& j,
                                                                 int depth = 2);

}  // namespace scaledl::portal
