// The TCP rendezvous that carries the NCCL unique id: ranks as threads of one process exchange
// a 128-byte id over localhost, and every failure is one error naming the address and cause.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "dist/rendezvous.h"

namespace scaledl {
namespace {

using namespace std::chrono_literals;
using Id = std::array<char, 128>;

// A port nothing listens on now (the kernel's pick, released at once).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

Id pattern() {
  Id id;
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<char>(i * 7 + 3);
  return id;
}

// Runs `world` ranks as threads; returns each rank's buffer and error text ("" when none).
struct Outcome {
  std::vector<Id> ids;
  std::vector<std::string> errors;
};
Outcome run_ranks(const std::string& addr, int port, int world, std::chrono::milliseconds t,
                  int only_ranks_below) {
  Outcome o{std::vector<Id>(world), std::vector<std::string>(world)};
  o.ids[0] = pattern();
  std::vector<std::thread> threads;
  for (int r = 0; r < world && r < only_ranks_below; ++r)
    threads.emplace_back([&, r] {
      try {
        rendezvous_share(addr, port, r, world, o.ids[r].data(), o.ids[r].size(), t);
      } catch (const Error& e) {
        o.errors[r] = e.what();
      }
    });
  for (std::thread& t : threads) t.join();
  return o;
}

TEST(Rendezvous, TwoRanksShareA128ByteId) {
  const Outcome o = run_ranks("127.0.0.1", free_port(), 2, 10s, 2);
  EXPECT_EQ(o.errors[0], "");
  EXPECT_EQ(o.errors[1], "");
  EXPECT_EQ(o.ids[1], pattern());
  EXPECT_EQ(o.ids[0], pattern());  // rank 0's own copy is untouched
}

TEST(Rendezvous, FourRanksByHostNameAllGetRank0sId) {
  const Outcome o = run_ranks("localhost", free_port(), 4, 10s, 4);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(o.errors[r], "") << "rank " << r;
    EXPECT_EQ(o.ids[r], pattern()) << "rank " << r;
  }
}

TEST(Rendezvous, NoRank0IsATimeoutNamingTheAddress) {
  const int port = free_port();
  const auto t0 = std::chrono::steady_clock::now();
  Id id{};
  try {
    rendezvous_share("127.0.0.1", port, 1, 2, id.data(), id.size(), 300ms);
    FAIL() << "no rank 0 listens, yet the rendezvous returned";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m, "[dist] rendezvous: rank 1 got no answer from rank 0 at 127.0.0.1:" +
                     std::to_string(port) +
                     " within 0.3 s (Connection refused); check MASTER_ADDR and MASTER_PORT "
                     "and that rank 0 is running");
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(s, 0.25);  // it kept retrying until the timeout,
  EXPECT_LT(s, 3.0);   // and not much longer
  EXPECT_EQ(id, Id{});
}

TEST(Rendezvous, Rank0NamesTheRanksThatNeverCame) {
  const int port = free_port();
  const Outcome o = run_ranks("127.0.0.1", port, 3, 500ms, 2);  // rank 2 never starts
  EXPECT_EQ(o.errors[1], "");
  EXPECT_EQ(o.ids[1], pattern());
  EXPECT_EQ(o.errors[0],
            "[dist] rendezvous: rank 0 waited 0.5 s on 127.0.0.1:" + std::to_string(port) +
                " and 1 of 2 other ranks connected (missing: 2); check that every "
                "rank has the same MASTER_ADDR and MASTER_PORT");
}

TEST(Rendezvous, ARankWithAnotherWorldSizeIsRefused) {
  const int port = free_port();
  Id mine = pattern(), theirs{};
  std::string err0, err1;
  std::thread rank0([&] {
    try {
      rendezvous_share("127.0.0.1", port, 0, 2, mine.data(), mine.size(), 5s);
    } catch (const Error& e) {
      err0 = e.what();
    }
  });
  try {
    rendezvous_share("127.0.0.1", port, 1, 3, theirs.data(), theirs.size(), 5s);
  } catch (const Error& e) {
    err1 = e.what();
  }
  rank0.join();
  EXPECT_NE(err0.find("rank 1 says world 3 but rank 0 has 2"), std::string::npos) << err0;
  EXPECT_NE(err1.find("(connection closed)"), std::string::npos) << err1;
  EXPECT_EQ(theirs, Id{});
}

TEST(Rendezvous, AJobOfSeveralRanksNeedsMasterAddrAndPort) {
  Id id{};
  try {
    rendezvous_share("", 0, 1, 2, id.data(), id.size(), 1s);
    FAIL() << "no address, yet the rendezvous returned";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs MASTER_ADDR and MASTER_PORT"), std::string::npos)
        << e.what();
  }
  rendezvous_share("", 0, 0, 1, id.data(), id.size(), 1s);  // a world of one needs nothing
  EXPECT_EQ(id, Id{});
}

}  // namespace
}  // namespace scaledl
