// A portal served from a thread of the test on an ephemeral port, and raw requests to it.
#pragma once
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "portal/portal.h"

namespace scaledl::portal::testing {

class ServedPortal {
 public:
  explicit ServedPortal(PortalOptions o) : portal_(std::make_unique<Portal>(std::move(o))) {
    port_ = portal_->bind();
    thread_ = std::thread([this] {
      portal_->serve();
      served_ = true;
    });
    httplib::Client c("127.0.0.1", port_);
    for (int i = 0; i < 200 && !c.Get("/nothing-here"); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~ServedPortal() {
    while (!served_) {
      portal_->stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    thread_.join();
  }
  int port() const { return port_; }
  Portal& portal() { return *portal_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10);
    return c;
  }

 private:
  std::unique_ptr<Portal> portal_;
  int port_ = 0;
  std::atomic<bool> served_{false};
  std::thread thread_;
};

// Sends `bytes` as they are on a new connection and returns what comes back (up to 64 KiB)
// until one whole answer has come (by its Content-Length) or the server closes it.
inline std::string raw_request(int port, const std::string& bytes) {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(s);
    return "";
  }
  timeval tv{5, 0};
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(s, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while (out.size() < 65536 && (n = ::recv(s, buf, sizeof buf, 0)) > 0) {
    out.append(buf, n);
    const size_t end = out.find("\r\n\r\n");  // one whole answer read: done
    const size_t len = out.find("Content-Length: ");
    if (end != std::string::npos && len != std::string::npos && len < end &&
        out.size() >= end + 4 + std::stoul(out.substr(len + 16)))
      break;
  }
  ::close(s);
  return out;
}

// A header's value in a raw answer, as sent (httplib's client decodes %XX in header values).
inline std::string raw_header(const std::string& answer, const std::string& name) {
  const size_t at = answer.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  const size_t start = at + name.size() + 4;
  return answer.substr(start, answer.find("\r\n", start) - start);
}

// The value of a Set-Cookie's name=value for `name` ("" when not set).
inline std::string cookie_value(const httplib::Result& r, const std::string& name) {
  for (size_t i = 0; i < r->get_header_value_count("Set-Cookie"); ++i) {
    const std::string c = r->get_header_value("Set-Cookie", i);
    if (c.rfind(name + "=", 0) == 0)
      return c.substr(name.size() + 1, c.find(';') - name.size() - 1);
  }
  return "";
}

}  // namespace scaledl::portal::testing
