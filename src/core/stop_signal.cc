// StopSignals: records the first stop signal; a second SIGINT exits at once.
#include "core/stop_signal.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace scaledl {

namespace {
struct Named {
  int sig;
  const char* name;
};
constexpr Named kSignals[] = {{SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},  {SIGUSR1, "SIGUSR1"},
                              {SIGUSR2, "SIGUSR2"}, {SIGHUP, "SIGHUP"},  {SIGQUIT, "SIGQUIT"},
                              {SIGALRM, "SIGALRM"}, {SIGXCPU, "SIGXCPU"}};

std::atomic<int> g_first{0};
std::atomic<int> g_interrupts{0};
static_assert(std::atomic<int>::is_always_lock_free, "the handler needs a lock-free atomic");

// Lines written by the handler, prepared before any signal can arrive (write(2) is safe there,
// formatting is not).
char g_notice[_NSIG][192];
size_t g_notice_len[_NSIG];
constexpr char kSecondInterrupt[] = "scaledl: second SIGINT: ending now, without a checkpoint\n";

void on_signal(int sig) {
  const int saved_errno = errno;
  if (sig == SIGINT && g_interrupts.fetch_add(1) >= 1) {
    (void)!::write(STDERR_FILENO, kSecondInterrupt, sizeof kSecondInterrupt - 1);
    ::_exit(130);
  }
  int none = 0;
  if (g_first.compare_exchange_strong(none, sig) && sig > 0 && sig < _NSIG)
    (void)!::write(STDERR_FILENO, g_notice[sig], g_notice_len[sig]);
  errno = saved_errno;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

std::string signal_name(int sig) {
  for (const Named& n : kSignals)
    if (n.sig == sig) return n.name;
  return "signal " + std::to_string(sig);
}

std::vector<int> parse_stop_signals(const std::string& list) {
  std::vector<int> out;
  if (upper(list) == "NONE") return out;
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    std::string item = upper(list.substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    if (item.rfind("SIG", 0) != 0 && !std::isdigit(static_cast<unsigned char>(item[0])))
      item = "SIG" + item;
    int sig = 0;
    for (const Named& n : kSignals)
      if (item == n.name) sig = n.sig;
    if (sig == 0 && std::isdigit(static_cast<unsigned char>(item[0]))) {
      char* end = nullptr;
      const long v = std::strtol(item.c_str(), &end, 10);
      // A number names a signal of the table above or a real-time one: never a fault (SEGV,
      // BUS, FPE, ILL: a handler that returns repeats the fault), SIGCHLD or SIGPIPE.
      bool named = false;
      for (const Named& n : kSignals) named = named || n.sig == v;
      if (*end == '\0' && (named || (v >= SIGRTMIN && v <= SIGRTMAX))) sig = static_cast<int>(v);
    }
    if (sig == 0)
      throw Error("config", "--stop-signals: '" + item +
                                "' is not a signal this can catch; use "
                                "names such as TERM,INT,USR1 (or none)");
    out.push_back(sig);
  }
  return out;
}

StopSignals::StopSignals(const std::vector<int>& signals) : signals_(signals) {
  g_first = 0;
  g_interrupts = 0;
  for (int sig : signals_) {
    const int n =
        std::snprintf(g_notice[sig], sizeof g_notice[sig],
                      "scaledl: %s received: stopping after this step with a checkpoint%s\n",
                      signal_name(sig).c_str(), sig == SIGINT ? " (SIGINT again to end now)" : "");
    g_notice_len[sig] = n > 0 ? static_cast<size_t>(n) : 0;
  }
  for (int sig : signals_) {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // reads and waits elsewhere go on; the job polls received()
    struct sigaction prev {};
    ::sigaction(sig, &sa, &prev);
    previous_.push_back(prev);
  }
}

StopSignals::~StopSignals() {
  // After a stop the launcher often signals again (Slurm's SIGTERM after a requeue): the handlers
  // stay, so that the process still leaves with its stop code rather than dying of that signal.
  if (received() != 0) return;
  for (size_t i = 0; i < signals_.size(); ++i) {
    ::sigaction(signals_[i], &previous_[i], nullptr);
  }
}

int StopSignals::received() {
  return g_first.load();
}

}  // namespace scaledl
