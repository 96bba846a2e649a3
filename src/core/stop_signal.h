// StopSignals: the signals that ask a long job to stop at its next safe point (the trainer's
// next step boundary) instead of dying where it stands. The handler only records which signal
// came (async-signal-safe: one atomic store and one write(2) of a prepared line); the job polls
// received() where stopping is safe. A second SIGINT ends the process at once with exit code
// 130, as someone pressing Ctrl-C twice at a terminal expects.
#pragma once
#include <signal.h>

#include <string>
#include <vector>

namespace scaledl {

// "TERM,INT,USR1" (names with or without SIG, any case, or numbers), or "none". Throws Error
// naming --stop-signals for an unknown name or a signal that cannot be caught.
std::vector<int> parse_stop_signals(const std::string& list);
// "SIGTERM" for SIGTERM; "signal N" for one without a name here.
std::string signal_name(int sig);

class StopSignals {
 public:
  // Installs the handler for `signals` (one StopSignals at a time in a process).
  explicit StopSignals(const std::vector<int>& signals);
  // Restores the handlers that were there before, unless a stop signal came: then ours stay, so
  // that a second signal from the launcher (Slurm's SIGTERM after a requeue) cannot end the
  // process with 143 on its way out.
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The first stop signal received since construction, 0 if none.
  static int received();

 private:
  std::vector<int> signals_;
  std::vector<struct sigaction> previous_;
};

}  // namespace scaledl
