// Starting, stopping and proxying TensorBoard.
#include "portal/tensorboard.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core/error.h"

namespace scaledl::portal {

namespace {

int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (s >= 0 && ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (s >= 0) ::close(s);
  if (port == 0) throw Error("portal", "no free local port for TensorBoard");
  return port;
}

bool answers(int port) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = s >= 0 && ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (s >= 0) ::close(s);
  return ok;
}

bool hop_by_hop(const std::string& h) {
  static const char* const names[] = {"connection",
                                      "keep-alive",
                                      "transfer-encoding",
                                      "content-length",
                                      "content-encoding",
                                      "upgrade",
                                      "proxy-connection",
                                      "te",
                                      "trailer",
                                      "host",
                                      "cookie",
                                      "authorization",
                                      "accept-encoding",
                                      "set-cookie",
                                      "content-type"};
  for (const char* n : names)
    if (strcasecmp(h.c_str(), n) == 0) return true;
  return false;
}

}  // namespace

std::string find_tensorboard(std::string* why) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    if (colon == std::string::npos) colon = dirs.size();
    const std::string candidate =
        (colon > start ? dirs.substr(start, colon - start) : ".") + "/tensorboard";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = colon + 1;
  }
  if (why) *why = "no tensorboard command on the portal's PATH (pip install tensorboard)";
  return "";
}

TensorBoards::TensorBoards(std::string command, std::string missing, std::string prefix,
                           bool as_owner)
    : command_(std::move(command)),
      missing_(command_.empty() ? std::move(missing) : ""),
      prefix_(std::move(prefix)),
      as_owner_(as_owner) {}

TensorBoards::~TensorBoards() {
  stop_all();
}

TensorBoards::Child TensorBoards::start(const RunRef& run) {
  Child c;
  c.port = free_port();
  const std::vector<std::string> args = {command_,
                                         "--logdir",
                                         run.dir,
                                         "--host",
                                         "127.0.0.1",
                                         "--port",
                                         std::to_string(c.port),
                                         "--path_prefix",
                                         prefix_ + "tensorboard/" + run.id};
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  uid_t uid = 0;
  gid_t gid = 0;
  if (as_owner_) {
    const passwd* pw = ::getpwnam(run.owner.c_str());
    if (!pw) throw Error("portal", "TensorBoard: the run's owner " + run.owner + " has no account");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("portal", "TensorBoard: fork failed");
  if (pid == 0) {  // the child: only async-signal-safe calls until exec
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
    }
    if (as_owner_ && (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0))
      ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  c.pid = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      throw Error("portal", "TensorBoard for " + run.id + " exited (status " +
                                std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                                "); its messages are in the portal's log");
    if (answers(c.port)) return c;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  throw Error("portal", "TensorBoard for " + run.id + " did not answer within 60 s");
}

int TensorBoards::port_for(const RunRef& run) {
  if (command_.empty()) throw Error("portal", "TensorBoard: " + missing_);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = children_.find(run.id);
  if (it != children_.end()) {
    int status = 0;
    if (::waitpid(it->second.pid, &status, WNOHANG) == 0) return it->second.port;
    children_.erase(it);  // it ended: start another
  }
  const Child c = start(run);
  children_[run.id] = c;
  return c.port;
}

void TensorBoards::stop_all() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, c] : children_) ::kill(-c.pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (auto& [id, c] : children_) {
    while (::waitpid(c.pid, nullptr, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(-c.pid, SIGKILL);
        ::waitpid(c.pid, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  children_.clear();
}

// httplib parses a multipart/form-data body into req.files (TensorBoard's frontend posts its
// data queries that way): written out again here, with a boundary of our own.
static std::string multipart_body(const httplib::Request& req, std::string* content_type) {
  const std::string boundary = "scaledl-portal-" + std::to_string(::getpid()) + "-boundary";
  std::string body;
  for (const auto& [name, part] : req.files) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + part.name + "\"";
    if (!part.filename.empty()) body += "; filename=\"" + part.filename + "\"";
    body += "\r\n";
    if (!part.content_type.empty()) body += "Content-Type: " + part.content_type + "\r\n";
    body += "\r\n" + part.content + "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  *content_type = "multipart/form-data; boundary=" + boundary;
  return body;
}

void proxy_to(int port, const httplib::Request& req, httplib::Response& res) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(120);
  httplib::Headers headers;
  for (const auto& [k, v] : req.headers)
    if (!hop_by_hop(k)) headers.emplace(k, v);
  httplib::Result r = [&] {
    if (req.method != "POST") return client.Get(req.target, headers);
    if (!req.is_multipart_form_data())
      return client.Post(req.target, headers, req.body, req.get_header_value("Content-Type"));
    std::string type;
    const std::string body = multipart_body(req, &type);
    return client.Post(req.target, headers, body, type);
  }();
  if (!r) {
    res.status = 502;
    res.set_content("TensorBoard did not answer: " + httplib::to_string(r.error()), "text/plain");
    return;
  }
  res.status = r->status;
  std::string type = "application/octet-stream";
  for (const auto& [k, v] : r->headers) {
    if (strcasecmp(k.c_str(), "content-type") == 0)
      type = v;
    else if (!hop_by_hop(k))
      res.headers.emplace(k, v);
  }
  res.set_content(r->body, type);
}

}  // namespace scaledl::portal
