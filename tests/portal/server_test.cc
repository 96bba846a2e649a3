// The portal served in-process, standalone: sign-in by token, 401 without a session, CSRF and
// Origin on POST, traversal refused, bad requests answered 4xx while the server keeps serving.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "portal/run_files.h"
#include "portal_server.h"
#include "temp_dir.h"

namespace scaledl::portal {
namespace {

namespace fs = std::filesystem;
using testing::ServedPortal;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

class PortalServer : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = scaledl::testing::test_temp_dir("portal_server");
    write(base_ / "runs/me/r1/summary.json", R"({"model":"lenet5","top1":90.25,"steps":3})");
    write(base_ / "runs/me/r1/steps.jsonl",
          "{\"step\":1,\"loss\":2.3}\n{\"step\":2,\"loss\":2.1}\n{\"step\":3,\"loss\":1.9}\n");
    write(base_ / "outside/secret/summary.json", R"({"top1":1})");
    fs::create_directory_symlink(base_ / "outside/secret", base_ / "runs/me/link");
    PortalOptions o;
    o.runs = {(base_ / "runs").string()};
    o.token = "t0ken-for-tests";
    server_ = std::make_unique<ServedPortal>(o);
  }
  // Signs in with the token; returns the Cookie header value.
  std::string sign_in() {
    auto r = server_->client().Get("/?token=t0ken-for-tests");
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 302);
    EXPECT_EQ(r->get_header_value("Location"), "/");
    const std::string id = testing::cookie_value(r, "scaledl-session");
    EXPECT_EQ(id.size(), 64u);
    const std::string set = r->get_header_value("Set-Cookie");
    EXPECT_NE(set.find("HttpOnly"), std::string::npos);
    EXPECT_NE(set.find("SameSite=Lax"), std::string::npos);
    EXPECT_NE(set.find("Path=/"), std::string::npos);
    return "scaledl-session=" + id;
  }
  std::string csrf_of(const std::string& cookie) {
    auto r = server_->client().Get("/", {{"Cookie", cookie}});
    std::smatch m;
    const std::regex re("name=\"_csrf\" value=\"([0-9a-f]{64})\"");
    EXPECT_TRUE(std::regex_search(r->body, m, re));
    return m[1];
  }
  fs::path base_;
  std::unique_ptr<ServedPortal> server_;
};

TEST_F(PortalServer, NoSessionGets401AndAWrongTokenNoCookie) {
  auto c = server_->client();
  auto page = c.Get("/");
  EXPECT_EQ(page->status, 401);
  EXPECT_NE(page->body.find("token"), std::string::npos);
  auto api = c.Get("/api/runs");
  EXPECT_EQ(api->status, 401);
  EXPECT_EQ(nlohmann::json::parse(api->body)["status"], 401);
  EXPECT_EQ(c.Get("/run/me/r1")->status, 401);
  EXPECT_EQ(c.Get("/static/portal.js")->status, 401);
  auto wrong = c.Get("/?token=nope");
  EXPECT_EQ(wrong->status, 401);
  EXPECT_FALSE(wrong->has_header("Set-Cookie"));
  EXPECT_EQ(c.Get("/", {{"Cookie", "scaledl-session=" + std::string(64, 'a')}})->status, 401);
}

TEST_F(PortalServer, TokenGivesACookieThatOpensPagesAndApi) {
  const std::string cookie = sign_in();
  auto c = server_->client();
  auto page = c.Get("/", {{"Cookie", cookie}});
  ASSERT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<table id=\"runs\">"), std::string::npos);
  EXPECT_NE(page->body.find("<tr data-run=\"me/r1\">"), std::string::npos);
  EXPECT_NE(page->body.find("<th data-key=\"top1\">"), std::string::npos);
  EXPECT_NE(page->body.find("id=\"filter\""), std::string::npos);
  EXPECT_EQ(page->body.find("me/link"), std::string::npos);
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("frame-ancestors 'self'"),
            std::string::npos);
  auto runs = nlohmann::json::parse(c.Get("/api/runs", {{"Cookie", cookie}})->body);
  ASSERT_EQ(runs["runs"].size(), 1u);
  EXPECT_EQ(runs["runs"][0]["id"], "me/r1");
  EXPECT_EQ(runs["runs"][0]["metrics"]["top1"], 90.25);
  auto run = c.Get("/run/me/r1", {{"Cookie", cookie}});
  ASSERT_EQ(run->status, 200);
  for (const char* id : {"chart-loss", "chart-top1", "chart-ips", "points-loss"})
    EXPECT_NE(run->body.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  auto series = c.Get("/api/runs/me/r1/series?since=", {{"Cookie", cookie}});
  ASSERT_EQ(series->status, 200);
  const auto s = nlohmann::json::parse(series->body);
  EXPECT_EQ(s["loss"].size(), 3u);
  auto more =
      c.Get("/api/runs/me/r1/series?since=" + s["next"].get<std::string>(), {{"Cookie", cookie}});
  EXPECT_EQ(nlohmann::json::parse(more->body)["loss"].size(), 0u);
  EXPECT_EQ(c.Get("/compare?run=me/r1&run=me/r1", {{"Cookie", cookie}})->status, 200);
  // The API also takes the token directly (scripts, curl).
  EXPECT_EQ(c.Get("/api/runs?token=t0ken-for-tests")->status, 200);
}

TEST_F(PortalServer, PostNeedsTheSessionsCsrfTokenAndOurOrigin) {
  const std::string cookie = sign_in();
  const std::string csrf = csrf_of(cookie);
  auto c = server_->client();
  const std::string form = "application/x-www-form-urlencoded";
  EXPECT_EQ(c.Post("/logout", {{"Cookie", cookie}}, "", form)->status, 403);
  EXPECT_EQ(c.Post("/logout", {{"Cookie", cookie}}, "_csrf=" + std::string(64, '0'), form)->status,
            403);
  EXPECT_EQ(c.Post("/logout", {{"Cookie", cookie}, {"X-CSRF-Token", "x"}}, "", form)->status, 403);
  EXPECT_EQ(c.Post("/logout", {{"Cookie", cookie}, {"Origin", "http://evil.example"}},
                   "_csrf=" + csrf, form)
                ->status,
            403);
  EXPECT_EQ(c.Post("/logout", {}, "_csrf=" + csrf, form)->status, 401);  // no session
  EXPECT_EQ(c.Get("/", {{"Cookie", cookie}})->status, 200);              // still signed in
  const std::string origin = "http://127.0.0.1:" + std::to_string(server_->port());
  auto out = c.Post("/logout", {{"Cookie", cookie}, {"Origin", origin}}, "_csrf=" + csrf, form);
  EXPECT_EQ(out->status, 200);
  EXPECT_EQ(c.Get("/", {{"Cookie", cookie}})->status, 401);  // the session is gone
}

TEST_F(PortalServer, TraversalAndOthersPathsAre404Or400) {
  const std::string cookie = sign_in();
  auto c = server_->client();
  for (const char* path :
       {"/run/..%2f..%2foutside%2fsecret", "/run/%2e%2e/%2e%2e/outside/secret", "/run/me/link",
        "/run/me/../../outside/secret", "/api/runs/..%2F..%2Fetc%2Fpasswd",
        "/api/runs/%2e%2e/outside/secret/series?since=", "/api/runs/me/link",
        "/api/runs//etc/passwd", "/run/me%00/r1", "/compare?run=../outside/secret",
        "/tensorboard/%2e%2e/outside/secret/", "/run/nobody/r9"}) {
    auto r = c.Get(path, {{"Cookie", cookie}});
    ASSERT_TRUE(r) << path;
    EXPECT_TRUE(r->status == 404 || r->status == 400) << path << ": " << r->status;
    EXPECT_EQ(r->body.find("\"top1\":1"), std::string::npos) << path;
  }
  const std::string raw = testing::raw_request(
      server_->port(), "GET /run/../../outside/secret HTTP/1.1\r\nHost: x\r\nCookie: " + cookie +
                           "\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(raw.rfind("HTTP/1.1 404", 0) == 0 || raw.rfind("HTTP/1.1 400", 0) == 0) << raw;
}

TEST_F(PortalServer, BadRequestsGet4xxAndTheServerKeepsServing) {
  const std::string cookie = sign_in();
  const std::string csrf = csrf_of(cookie);
  EXPECT_EQ(testing::raw_request(server_->port(), "GARBAGE\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(testing::raw_request(server_->port(), std::string(20000, 'A') + "\r\n\r\n")
                .rfind("HTTP/1.1 4", 0),
            0u);
  // A body over the 64 KiB limit is read and dropped, never kept: 413.
  const std::string big =
      "POST /api/submit HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n"
      "Cookie: " +
      cookie + "\r\nConnection: close\r\n\r\n" + std::string(200000, '{');
  EXPECT_EQ(testing::raw_request(server_->port(), big).rfind("HTTP/1.1 413", 0), 0u);
  auto c = server_->client();
  auto bad_json = c.Post("/api/submit", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}}, "{nope",
                         "application/json");
  EXPECT_EQ(bad_json->status, 400);
  EXPECT_EQ(nlohmann::json::parse(bad_json->body)["status"], 400);
  EXPECT_EQ(c.Get("/api/runs/me/r1/series?since=x.y.z", {{"Cookie", cookie}})->status, 400);
  EXPECT_EQ(c.Delete("/", {{"Cookie", cookie}})->status, 405);
  EXPECT_EQ(c.Get("/no/such/page", {{"Cookie", cookie}})->status, 404);
  auto good = c.Get("/api/runs", {{"Cookie", cookie}});
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 200);
  EXPECT_EQ(nlohmann::json::parse(good->body)["runs"].size(), 1u);
}

}  // namespace
}  // namespace scaledl::portal
