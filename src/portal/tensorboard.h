// TensorBoard on a run, on demand: one `tensorboard --logdir RUN --host 127.0.0.1 --port P
// --path_prefix <prefix>tensorboard/<id>` per run (as the run's owner when the portal runs as
// root), reverse-proxied under the portal so that it shares the portal's sign-in. Every process
// started is stopped when the TensorBoards object goes (the portal's exit).
#pragma once
#include <httplib.h>
#include <sys/types.h>

#include <map>
#include <mutex>
#include <string>

#include "portal/run_index.h"

namespace scaledl::portal {

// The tensorboard command on PATH ("" when none); `why` gets the reason when none.
std::string find_tensorboard(std::string* why);

class TensorBoards {
 public:
  // `command`: the tensorboard executable ("" : unavailable, `missing` says why).
  TensorBoards(std::string command, std::string missing, std::string prefix, bool as_owner);
  ~TensorBoards();
  TensorBoards(const TensorBoards&) = delete;
  TensorBoards& operator=(const TensorBoards&) = delete;

  // "" when TensorBoard can be started, else why not (shown where the link would be).
  const std::string& why_missing() const { return missing_; }
  // The local port of the run's TensorBoard, started and waited for (up to 60 s) on first use.
  // Error when it cannot be started or exits.
  int port_for(const RunRef& run);
  // Ends every TensorBoard started (SIGTERM, then SIGKILL after 3 s).
  void stop_all();

 private:
  struct Child {
    pid_t pid = -1;
    int port = 0;
  };
  Child start(const RunRef& run);

  std::string command_, missing_, prefix_;
  bool as_owner_;
  std::mutex mu_;
  std::map<std::string, Child> children_;  // by run id
};

// Forwards `req` (GET or POST, its path and query unchanged) to 127.0.0.1:`port` and copies
// the answer back, without our cookies going to TensorBoard.
void proxy_to(int port, const httplib::Request& req, httplib::Response& res);

}  // namespace scaledl::portal
