// Running a program and collecting what it printed: argv, no shell in between, a time limit.
#pragma once
#include <string>
#include <vector>

namespace scaledl {

struct ProcessResult {
  int exit_code = -1;  // the program's exit status; 128+N when signal N ended it
  std::string out, err;
  bool timed_out = false;  // killed (SIGKILL) after the time limit
};

// Runs argv[0] (searched on PATH) with `argv`, stdin from /dev/null, and waits at most
// `timeout_s` seconds. Throws Error("process", ...) when it cannot be started (not found).
ProcessResult run_process(const std::vector<std::string>& argv, double timeout_s = 60);

// The program's one-line account of a failure: its stderr (else stdout) trimmed to one line.
std::string one_line(const ProcessResult& r);

}  // namespace scaledl
