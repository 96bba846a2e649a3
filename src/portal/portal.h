// The scaledl portal: a web service (cpp-httplib) that shows a user's runs, their live curves
// and comparisons, their Slurm jobs, submits new jobs, and opens TensorBoard on a run. Standalone
// it signs its one user in with a random token; as a JupyterHub service it signs users in with
// the hub's OAuth. Every page and API route checks who is asking. See docs/portal.md.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "portal/hub_auth.h"

namespace scaledl::portal {

struct PortalOptions {
  std::vector<std::string> runs;    // --runs roots (at least one)
  std::string bind = "127.0.0.1";   // --bind
  int port = 0;                     // --port; 0: any free port (tests)
  std::vector<std::string> admins;  // --admin: users who see every run and job
  std::optional<HubSettings> hub;   // set: hub mode (OAuth); unset: standalone (token)
  std::string token;                // standalone: the sign-in token ("" makes a random one)
  std::string chart_js_path;        // "" : Debian's libjs-chart.js
  std::string tensorboard;          // the tensorboard command ("" : not available)
  std::string tensorboard_missing;  // why not, shown on the run page
  double session_ttl_s = 12 * 3600;
};

struct PortalState;

class Portal {
 public:
  // Checks the --runs roots (Error, naming the flag) and sets up the routes.
  explicit Portal(PortalOptions options);
  ~Portal();  // stops serving and every TensorBoard it started
  Portal(const Portal&) = delete;
  Portal& operator=(const Portal&) = delete;

  // Binds --bind:--port; returns the port (the chosen one when --port 0). Error when taken.
  int bind();
  // Serves until stop() (from any thread or a signal-waiting thread).
  void serve();
  void stop();

  // The URL prefix every route lives under ("/" standalone; the hub's service prefix).
  const std::string& prefix() const;
  // Standalone: the sign-in token (empty in hub mode).
  const std::string& token() const;

 private:
  std::unique_ptr<PortalState> state_;
};

}  // namespace scaledl::portal
