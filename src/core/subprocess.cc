// run_process: fork/exec with pipes for stdout and stderr, read with poll until both close.
#include "core/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/error.h"

namespace scaledl {
namespace {

// Both ends close on exec; the child dup2s its ends onto 1 and 2.
void make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw Error("process", std::string("pipe failed: ") + std::strerror(errno));
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, double timeout_s) {
  SDL_ASSERT(!argv.empty(), "run_process needs a program");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2], err[2], status_pipe[2];
  make_pipe(out);
  make_pipe(err);
  make_pipe(status_pipe);  // the child writes errno here when exec fails
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("process", std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::signal(SIGPIPE, SIG_DFL);
    ::execvp(args[0], args.data());
    const int e = errno;
    (void)!::write(status_pipe[1], &e, sizeof e);
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  ::close(status_pipe[1]);
  int exec_errno = 0;
  const bool exec_failed =
      ::read(status_pipe[0], &exec_errno, sizeof exec_errno) == sizeof exec_errno;
  ::close(status_pipe[0]);

  ProcessResult r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      r.timed_out = true;
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (exec_failed)
    throw Error("process", "cannot run '" + argv[0] + "': " + std::strerror(exec_errno) +
                               (exec_errno == ENOENT ? " (not installed, or not on PATH)" : ""));
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string one_line(const ProcessResult& r) {
  std::string s = r.err.find_first_not_of(" \t\r\n") != std::string::npos ? r.err : r.out;
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  const auto b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
  s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
  if (r.timed_out) s = s.empty() ? std::string("timed out") : "timed out: " + s;
  return s.empty() ? "exit code " + std::to_string(r.exit_code) : s;
}

}  // namespace scaledl
