// The TCP rendezvous: a hello (magic, rank, world, size) from each rank, the blob from rank 0.
// Sockets are non-blocking and every wait is a poll() against one deadline.
#include "dist/rendezvous.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace scaledl {

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kMagic = 0x53444c52;  // "SDLR"

class Socket {
 public:
  explicit Socket(int fd = -1) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

struct Hello {
  uint32_t magic, rank, world, bytes;  // network byte order on the wire
};

std::string seconds_text(std::chrono::milliseconds t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(t.count()) / 1000.0);
  return buf;
}

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1000));
}

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Waits until `fd` is ready for `events` or the deadline passes (false).
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, ms_left(deadline));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
    if (Clock::now() >= deadline) return false;
  }
}

// Moves exactly `n` bytes; "" on success, else why not ("timed out", "connection closed", ...).
std::string send_all(int fd, const void* data, size_t n, Clock::time_point deadline) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k > 0) {
      p += k;
      n -= static_cast<size_t>(k);
    } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
      return std::strerror(errno);
    } else if (!wait_fd(fd, POLLOUT, deadline)) {
      return "timed out";
    }
  }
  return "";
}

std::string recv_all(int fd, void* data, size_t n, Clock::time_point deadline) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t k = ::recv(fd, p, n, 0);
    if (k > 0) {
      p += k;
      n -= static_cast<size_t>(k);
    } else if (k == 0) {
      return "connection closed";
    } else if (errno != EAGAIN && errno != EINTR) {
      return std::strerror(errno);
    } else if (!wait_fd(fd, POLLIN, deadline)) {
      return "timed out";
    }
  }
  return "";
}

// Rank 0: a listening socket on every interface (IPv6 and IPv4 where the host has both).
Socket listen_on(int port, int backlog) {
  std::string why;
  for (int family : {AF_INET6, AF_INET}) {
    Socket s(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.fd() < 0) continue;
    const int one = 1, zero = 0;
    setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage a{};
    socklen_t len = 0;
    if (family == AF_INET6) {
      setsockopt(s.fd(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      auto* a6 = reinterpret_cast<sockaddr_in6*>(&a);
      a6->sin6_family = AF_INET6;
      a6->sin6_addr = in6addr_any;
      a6->sin6_port = htons(static_cast<uint16_t>(port));
      len = sizeof *a6;
    } else {
      auto* a4 = reinterpret_cast<sockaddr_in*>(&a);
      a4->sin_family = AF_INET;
      a4->sin_addr.s_addr = htonl(INADDR_ANY);
      a4->sin_port = htons(static_cast<uint16_t>(port));
      len = sizeof *a4;
    }
    if (::bind(s.fd(), reinterpret_cast<sockaddr*>(&a), len) == 0 &&
        ::listen(s.fd(), backlog) == 0) {
      set_nonblocking(s.fd());
      return s;
    }
    why = std::strerror(errno);
    if (errno == EADDRINUSE) break;
  }
  throw Error("dist", "rendezvous: rank 0 cannot listen on port " + std::to_string(port) +
                          " (MASTER_PORT): " + why + "; pick a free MASTER_PORT");
}

void serve(const std::string& addr, int port, int world, const void* data, size_t bytes,
           std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  Socket server = listen_on(port, std::min(world, 1024));
  std::vector<bool> served(static_cast<size_t>(world), false);
  int done = 0;
  while (done < world - 1) {
    if (!wait_fd(server.fd(), POLLIN, deadline)) {
      std::string missing;
      int listed = 0;
      for (int r = 1; r < world && listed < 16; ++r)
        if (!served[static_cast<size_t>(r)]) missing += (listed++ ? ", " : "") + std::to_string(r);
      throw Error("dist", "rendezvous: rank 0 waited " + seconds_text(timeout) + " s on " + addr +
                              ":" + std::to_string(port) + " and " + std::to_string(done) + " of " +
                              std::to_string(world - 1) +
                              " other ranks connected (missing: " + missing +
                              "); check that every rank has the same MASTER_ADDR and MASTER_PORT");
    }
    Socket peer(::accept4(server.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (peer.fd() < 0) continue;
    // A connection that is not a rank of this job (or one that stalls) is dropped, not fatal.
    Hello h{};
    if (!recv_all(peer.fd(), &h, sizeof h, deadline).empty() || ntohl(h.magic) != kMagic) continue;
    const int r = static_cast<int>(ntohl(h.rank));
    if (static_cast<int>(ntohl(h.world)) != world || ntohl(h.bytes) != bytes)
      throw Error("dist", "rendezvous on " + addr + ":" + std::to_string(port) + ": rank " +
                              std::to_string(r) + " says world " + std::to_string(ntohl(h.world)) +
                              " but rank 0 has " + std::to_string(world) +
                              "; every rank needs the same WORLD_SIZE (or another job uses this "
                              "MASTER_PORT)");
    if (r < 1 || r >= world || served[static_cast<size_t>(r)])
      throw Error("dist", "rendezvous on " + addr + ":" + std::to_string(port) + ": rank " +
                              std::to_string(r) + " connected twice or is not a rank of " +
                              std::to_string(world) + "; every process needs its own RANK");
    if (!send_all(peer.fd(), data, bytes, deadline).empty()) continue;
    served[static_cast<size_t>(r)] = true;
    ++done;
  }
}

// Connects to addr:port, retrying while rank 0 is not listening yet; "" and a socket, or why not.
std::string connect_to(const std::string& addr, int port, Clock::time_point deadline, Socket& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int gai = ::getaddrinfo(addr.c_str(), std::to_string(port).c_str(), &hints, &list);
  if (gai != 0)
    throw Error("dist", "rendezvous: cannot resolve MASTER_ADDR '" + addr + "': " +
                            gai_strerror(gai) + "; set it to rank 0's host name or address");
  std::string why = "timed out";
  do {
    for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
      Socket s(::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (s.fd() < 0) continue;
      if (::connect(s.fd(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        why = std::strerror(errno);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      if (!wait_fd(s.fd(), POLLOUT, deadline)) continue;
      getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) {
        ::freeaddrinfo(list);
        out = std::move(s);
        return "";
      }
      why = std::strerror(err);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50, ms_left(deadline))));
  } while (Clock::now() < deadline);
  ::freeaddrinfo(list);
  return why;
}

void fetch(const std::string& addr, int port, int rank, int world, void* data, size_t bytes,
           std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  const std::string where = addr + ":" + std::to_string(port);
  Socket s;
  std::string why = connect_to(addr, port, deadline, s);
  if (why.empty()) {
    const Hello h{htonl(kMagic), htonl(static_cast<uint32_t>(rank)),
                  htonl(static_cast<uint32_t>(world)), htonl(static_cast<uint32_t>(bytes))};
    why = send_all(s.fd(), &h, sizeof h, deadline);
    if (why.empty()) why = recv_all(s.fd(), data, bytes, deadline);
    if (why.empty()) return;
  }
  throw Error("dist", "rendezvous: rank " + std::to_string(rank) +
                          " got no answer from rank 0 at " + where + " within " +
                          seconds_text(timeout) + " s (" + why +
                          "); check MASTER_ADDR and MASTER_PORT and that rank 0 is running");
}

}  // namespace

void rendezvous_share(const std::string& addr, int port, int rank, int world, void* data,
                      size_t bytes, std::chrono::milliseconds timeout) {
  if (world < 2) return;
  if (addr.empty() || port < 1 || port > 65535)
    throw Error("dist", "rendezvous: a job of " + std::to_string(world) +
                            " ranks needs MASTER_ADDR and MASTER_PORT (rank 0's host and a free "
                            "port), as torchrun sets them");
  if (rank == 0)
    serve(addr, port, world, data, bytes, timeout);
  else
    fetch(addr, port, rank, world, data, bytes, timeout);
}

}  // namespace scaledl
