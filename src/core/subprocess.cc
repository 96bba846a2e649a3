// run_process: fork/exec with pipes for stdout and stderr, read with poll until both close.
#include "core/subprocess.h"

#include <fcntl.h>
#include <linux/close_range.h>
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

// Pipes whose ends close on exec (the child dup2s its ends onto 1 and 2), closed on every way
// out of run_process.
struct Pipes {
  int fd[6] = {-1, -1, -1, -1, -1, -1};  // out, err, exec status: read end, write end each
  Pipes() {
    for (int i = 0; i < 6; i += 2)
      if (::pipe2(fd + i, O_CLOEXEC) != 0)
        throw Error("process", std::string("pipe failed: ") + std::strerror(errno));
  }
  ~Pipes() {
    for (int& f : fd) close_fd(f);
  }
  static void close_fd(int& f) {
    if (f >= 0) ::close(f);
    f = -1;
  }
};

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, double timeout_s) {
  SDL_ASSERT(!argv.empty(), "run_process needs a program");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  Pipes p;  // p.fd: out read/write, err read/write, exec status read/write
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("process", std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);  // its own process group: a timeout ends the program and its children
    // Nothing this process holds open (sockets of a server, say) reaches the program.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(p.fd[1], 1);
    ::dup2(p.fd[3], 2);
    ::signal(SIGPIPE, SIG_DFL);
    ::execvp(args[0], args.data());
    const int e = errno;
    (void)!::write(p.fd[5], &e, sizeof e);  // exec failed: its errno to the parent
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from here, so the group exists before any kill
  for (int i : {1, 3, 5}) Pipes::close_fd(p.fd[i]);
  int exec_errno = 0;
  const bool exec_failed = ::read(p.fd[4], &exec_errno, sizeof exec_errno) == sizeof exec_errno;
  Pipes::close_fd(p.fd[4]);

  ProcessResult r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  pollfd fds[2] = {{p.fd[0], POLLIN, 0}, {p.fd[2], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(-pid, SIGKILL);
      r.timed_out = true;
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::kill(-pid, SIGKILL);  // cannot read it any more: end it rather than wait forever
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
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
