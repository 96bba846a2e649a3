// StopSignals: names parse (or fail naming the flag), a raised signal is recorded rather than
// fatal, the first one wins, and the previous handler is back afterwards.
#include "core/stop_signal.h"

#include <gtest/gtest.h>
#include <signal.h>

#include "core/error.h"

namespace scaledl {
namespace {

TEST(StopSignals, ParsesNamesNumbersAndNone) {
  EXPECT_EQ(parse_stop_signals("TERM,INT,USR1"), (std::vector<int>{SIGTERM, SIGINT, SIGUSR1}));
  EXPECT_EQ(parse_stop_signals("sigterm,usr2"), (std::vector<int>{SIGTERM, SIGUSR2}));
  EXPECT_EQ(parse_stop_signals("10"), (std::vector<int>{10}));
  EXPECT_TRUE(parse_stop_signals("none").empty());
  EXPECT_EQ(signal_name(SIGUSR1), "SIGUSR1");
}

TEST(StopSignals, RefusesWhatCannotBeCaught) {
  for (const char* bad : {"KILL", "STOP", "9", "TERM,BOGUS", "0", "99999", "11", "7", "17", "13"}) {
    try {
      parse_stop_signals(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--stop-signals"), std::string::npos) << e.what();
    }
  }
}

int g_previous_calls = 0;
void previous_handler(int) {
  ++g_previous_calls;
}

TEST(StopSignals, RecordsTheFirstSignalRestoresTheHandlerOnlyWithoutOne) {
  struct sigaction sa {
  }, old2{}, old1{};
  sa.sa_handler = previous_handler;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &sa, &old2), 0);
  ASSERT_EQ(sigaction(SIGUSR1, nullptr, &old1), 0);
  { StopSignals quiet(parse_stop_signals("USR2")); }  // no signal came: the handler is restored
  ASSERT_EQ(raise(SIGUSR2), 0);
  EXPECT_EQ(g_previous_calls, 1);
  {
    StopSignals stop(parse_stop_signals("USR2,USR1"));
    EXPECT_EQ(StopSignals::received(), 0);
    ASSERT_EQ(raise(SIGUSR2), 0);  // would run previous_handler if not ours
    ASSERT_EQ(raise(SIGUSR1), 0);  // would end the process if not ours
    EXPECT_EQ(StopSignals::received(), SIGUSR2);
    EXPECT_EQ(g_previous_calls, 1);
  }
  ASSERT_EQ(raise(SIGUSR2), 0);  // after a stop ours stay: a launcher's second signal is absorbed
  EXPECT_EQ(g_previous_calls, 1);
  {
    StopSignals again(parse_stop_signals("USR2"));
    EXPECT_EQ(StopSignals::received(), 0) << "a new StopSignals starts clear";
  }
  sigaction(SIGUSR2, &old2, nullptr);
  sigaction(SIGUSR1, &old1, nullptr);
}

}  // namespace
}  // namespace scaledl
