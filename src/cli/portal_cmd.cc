// scaledl portal: the web portal (runs, live curves, comparisons, Slurm jobs, submit,
// TensorBoard), standalone with a sign-in token or as a JupyterHub service. See docs/portal.md.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "portal/portal.h"
#include "portal/tensorboard.h"
#include "portal/web_text.h"

namespace scaledl::cli {

namespace {

struct PortalOpts {
  int port = 0;
  std::vector<std::string> runs, admins;
  std::string bind = "127.0.0.1", hub_api, token_file, chart_js;
  double session_hours = 12;
};

void write_token_file(const std::string& path, const std::string& token) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || ::fchmod(fd, 0600) != 0 ||
      ::write(fd, token.data(), token.size()) != static_cast<ssize_t>(token.size())) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    throw Error("portal", "--token-file " + path + ": cannot write it (" + why +
                              "); give a path in a folder you own");
  }
  ::close(fd);
}

// The port the hub expects the service on (JUPYTERHUB_SERVICE_URL), when --port is not given.
int port_from_hub_env() {
  const char* url = std::getenv("JUPYTERHUB_SERVICE_URL");
  const auto parts = url ? portal::split_url(url) : std::nullopt;
  if (!parts) return 0;
  const size_t colon = parts->host_port.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(parts->host_port.c_str() + colon + 1);
}

int run_portal(const PortalOpts& o) {
  portal::PortalOptions p;
  p.runs = o.runs;
  p.bind = o.bind;
  p.admins = o.admins;
  p.hub = portal::hub_settings_from_env(o.hub_api);
  p.port = o.port ? o.port : (p.hub ? port_from_hub_env() : 0);
  if (p.port == 0)
    throw Error("portal",
                "--port is required (or JUPYTERHUB_SERVICE_URL with a port, as the "
                "hub sets it for a managed service)");
  p.chart_js_path = o.chart_js;
  p.session_ttl_s = o.session_hours * 3600;
  p.tensorboard = portal::find_tensorboard(&p.tensorboard_missing);

  // SIGINT and SIGTERM are taken by one thread that stops the server: blocked before any
  // other thread exists, so that none of the server's threads receives them.
  sigset_t stop_set;
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGINT);
  sigaddset(&stop_set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_set, nullptr);

  portal::Portal server(std::move(p));
  const int port = server.bind();
  const std::string host = o.bind == "0.0.0.0" || o.bind == "::" ? "127.0.0.1" : o.bind;
  const std::string url = "http://" + host + ":" + std::to_string(port) + server.prefix();
  if (!server.token().empty() && !o.token_file.empty()) {
    write_token_file(o.token_file, server.token());
    std::fprintf(stderr, "scaledl portal: %s (sign in with ?token= and the token in %s)\n",
                 url.c_str(), o.token_file.c_str());
  } else if (!server.token().empty()) {
    std::fprintf(stderr, "scaledl portal: %s?token=%s\n", url.c_str(), server.token().c_str());
  } else {
    std::fprintf(stderr, "scaledl portal: JupyterHub service at %s, listening on %s:%d\n",
                 server.prefix().c_str(), o.bind.c_str(), port);
  }

  std::atomic<bool> done{false};
  int received = 0;
  std::thread stopper([&] {
    while (!done) {
      timespec wait{0, 200 * 1000 * 1000};
      const int sig = sigtimedwait(&stop_set, nullptr, &wait);
      if (sig > 0) {
        received = sig;
        break;
      }
    }
    while (!done) {  // until serve() has returned (a stop before it started listening waits)
      server.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  server.serve();
  done = true;
  stopper.join();
  if (received) std::fprintf(stderr, "scaledl portal: %s: stopped\n", strsignal(received));
  return 0;
}

}  // namespace

Runner add_portal(CLI::App& app) {
  auto o = std::make_shared<PortalOpts>();
  CLI::App* c = app.add_subcommand(
      "portal", "The web portal: runs, live curves, compare, Slurm jobs, submit, TensorBoard");
  c->add_option("--port", o->port, "Port to listen on")->check(CLI::Range(1, 65535));
  c->add_option("--runs", o->runs, "A folder of run folders (repeatable)")
      ->required()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("--bind", o->bind, "Address to listen on")->capture_default_str();
  c->add_option("--hub-api", o->hub_api,
                "JupyterHub's API URL (default: $JUPYTERHUB_API_URL), in hub mode");
  c->add_option("--admin", o->admins, "A user who sees every run and job (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("--token-file", o->token_file,
                "Standalone: write the sign-in token to this file (mode 0600) instead of "
                "printing it");
  c->add_option("--chart-js", o->chart_js, "Chart.js to serve (default: Debian's libjs-chart.js)");
  c->add_option("--session-hours", o->session_hours, "How long a sign-in lasts")
      ->check(CLI::Range(0.01, 24.0 * 30))
      ->capture_default_str();
  return [o] { return run_portal(*o); };
}

}  // namespace scaledl::cli
