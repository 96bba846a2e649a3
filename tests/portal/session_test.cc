// Sessions expire, CSRF tokens match only their session's, OAuth states are single-use.
#include "portal/session.h"

#include <gtest/gtest.h>

#include <set>

#include "portal/web_text.h"

namespace scaledl::portal {
namespace {

TEST(PortalSession, IdsAndTokensAre256BitRandomHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string t = random_hex(32);
    EXPECT_EQ(t.size(), 64u);
    EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(PortalSession, ExpiresAfterItsLifetime) {
  SessionStore store(60);
  const Session s = store.create("alice", false, 1000);
  EXPECT_EQ(s.expires_at, 1060);
  ASSERT_TRUE(store.find(s.id, 1059.9));
  EXPECT_EQ(store.find(s.id, 1059.9)->user, "alice");
  EXPECT_FALSE(store.find(s.id, 1060));  // expired: gone for good
  EXPECT_EQ(store.size(), 0u);
  EXPECT_FALSE(store.find(s.id, 1000));
  EXPECT_FALSE(store.find("", 1000));
  EXPECT_FALSE(store.find(std::string(64, 'a'), 1000));
}

TEST(PortalSession, EraseAndAFullStoreDropsTheOldest) {
  SessionStore store(100, 3);
  const Session a = store.create("a", false, 0), b = store.create("b", false, 1);
  const Session c = store.create("c", false, 2), d = store.create("d", true, 3);
  EXPECT_EQ(store.size(), 3u);
  EXPECT_FALSE(store.find(a.id, 4));
  EXPECT_TRUE(store.find(d.id, 4)->admin);
  store.erase(b.id);
  EXPECT_FALSE(store.find(b.id, 4));
  EXPECT_TRUE(store.find(c.id, 4));
}

TEST(PortalSession, CsrfTokenMatchesOnlyItsOwnSession) {
  SessionStore store(100);
  const Session a = store.create("alice", false, 0), b = store.create("alice", false, 0);
  EXPECT_NE(a.csrf, b.csrf);
  EXPECT_TRUE(csrf_matches(a, a.csrf));
  EXPECT_FALSE(csrf_matches(a, b.csrf));
  EXPECT_FALSE(csrf_matches(a, ""));
  EXPECT_FALSE(csrf_matches(a, a.csrf.substr(0, 63)));
  EXPECT_FALSE(csrf_matches(a, a.csrf + "0"));
  Session empty;
  EXPECT_FALSE(csrf_matches(empty, ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
}

TEST(PortalSession, OAuthStateIsUsedOnceAndExpires) {
  OAuthStates states(600);
  const std::string s = states.create("/services/scaledl/run/x", 0);
  EXPECT_EQ(s.size(), 32u);
  EXPECT_FALSE(states.consume("nope", 1));
  EXPECT_EQ(states.consume(s, 10).value(), "/services/scaledl/run/x");
  EXPECT_FALSE(states.consume(s, 11));  // a replay
  const std::string late = states.create("/", 0);
  EXPECT_FALSE(states.consume(late, 600));
}

TEST(PortalWebText, PercentDecodingFormsCookiesAndUrls) {
  EXPECT_EQ(percent_decode("%2e%2E/a%20b+c").value(), "../a b+c");
  EXPECT_EQ(percent_decode("a+b", true).value(), "a b");
  EXPECT_FALSE(percent_decode("%zz"));
  EXPECT_FALSE(percent_decode("abc%2"));
  EXPECT_FALSE(percent_decode("a%00b"));  // NUL
  EXPECT_EQ(url_encode("a b/c&d"), "a%20b%2Fc%26d");
  EXPECT_EQ(url_encode("alice/r-1", true), "alice/r-1");
  EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  const auto f = parse_form("_csrf=ab%2Bc&args=--model+resnet50&empty=&flag");
  ASSERT_TRUE(f);
  EXPECT_EQ(form_value(*f, "_csrf"), "ab+c");
  EXPECT_EQ(form_value(*f, "args"), "--model resnet50");
  EXPECT_EQ(form_value(*f, "flag"), "");
  EXPECT_FALSE(parse_form("a=%ZZ"));
  const auto c = parse_cookies("a=1; scaledl-session=abc ;b=\"q\"; bad");
  EXPECT_EQ(c.at("scaledl-session"), "abc");
  EXPECT_EQ(c.at("b"), "q");
  EXPECT_EQ(c.count("bad"), 0u);
  const auto u = split_url("http://127.0.0.1:8081/hub/api");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme_host_port, "http://127.0.0.1:8081");
  EXPECT_EQ(u->path, "/hub/api");
  EXPECT_FALSE(split_url("ftp://x/y"));
  EXPECT_FALSE(split_url("127.0.0.1:8081"));
}

}  // namespace
}  // namespace scaledl::portal
