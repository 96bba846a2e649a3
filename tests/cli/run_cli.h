// Running the scaledl binary from tests: exit code and output, and a fresh temporary folder.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>

#include "temp_dir.h"

namespace scaledl::testing {

struct CliResult {
  int code;
  std::string out;
};

// Runs a shell command line; `out` holds what it printed on stdout.
inline CliResult run_command(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Runs `scaledl ARGS`; `out` holds stdout and, with `with_stderr`, stderr.
inline CliResult run_cli(const std::string& args, bool with_stderr = true) {
  return run_command(std::string(SCALEDL_BINARY) + " " + args +
                     (with_stderr ? " 2>&1" : " 2>/dev/null"));
}

// `scaledl ARGS` fails as a user error should: one line, starting "scaledl: error:",
// containing `needle`, exit code 2.
inline void expect_user_error(const std::string& args, const std::string& needle) {
  const CliResult r = run_cli(args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
  EXPECT_EQ(r.out.rfind("scaledl: error:", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << "want '" << needle << "' in: " << r.out;
}

}  // namespace scaledl::testing
