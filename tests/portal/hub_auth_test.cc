// Hub mode against a stand-in hub (an httplib server speaking the three calls of JupyterHub's
// API the portal makes): a page without a session is sent to the hub's authorize URL, an API
// call gets 401, the callback checks the state against its cookie, exchanges the code, asks
// who the user is and whether an admin, and signs the browser in.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "portal/run_files.h"
#include "portal/web_text.h"
#include "portal_server.h"
#include "temp_dir.h"

namespace scaledl::portal {
namespace {

namespace fs = std::filesystem;

constexpr const char* kServiceToken = "service-secret";
constexpr const char* kCallback = "/services/scaledl/oauth_callback";

// The hub's side: one code ("good-code") for user "alice", whose /user model lacks "admin".
class FakeHub {
 public:
  FakeHub() {
    srv_.Post("/hub/api/oauth2/token", [this](const httplib::Request& req, httplib::Response& res) {
      const auto f = parse_form(req.body).value();
      token_calls_++;
      if (form_value(f, "client_id") != "service-scaledl" ||
          form_value(f, "client_secret") != kServiceToken ||
          form_value(f, "grant_type") != "authorization_code" ||
          form_value(f, "redirect_uri") != kCallback || form_value(f, "code") != "good-code") {
        res.status = 400;
        res.set_content(R"({"error":"invalid_grant","error_description":"bad code"})",
                        "application/json");
        return;
      }
      res.set_content(R"({"access_token":"alice-token","token_type":"Bearer"})",
                      "application/json");
    });
    srv_.Get("/hub/api/user", [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") != "token alice-token") {
        res.status = 403;
        return;
      }
      res.set_content(R"({"kind":"user","name":"alice","session_id":"s"})", "application/json");
    });
    srv_.Get("/hub/api/users/alice", [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") != std::string("token ") + kServiceToken) {
        res.status = 403;
        return;
      }
      res.set_content(R"({"kind":"user","name":"alice","admin":true})", "application/json");
    });
    port_ = srv_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    httplib::Client c("127.0.0.1", port_);
    for (int i = 0; i < 200 && !c.Get("/"); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~FakeHub() {
    srv_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  int token_calls() const { return token_calls_; }

 private:
  httplib::Server srv_;
  int port_ = 0;
  std::atomic<int> token_calls_{0};
  std::thread thread_;
};

class PortalHub : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = scaledl::testing::test_temp_dir("portal_hub");
    fs::create_directories(base_ / "runs/bob/r1");
    std::ofstream(base_ / "runs/bob/r1/summary.json") << R"({"top1":80})";
    PortalOptions o;
    o.runs = {(base_ / "runs").string()};
    HubSettings h;
    h.api_url = "http://127.0.0.1:" + std::to_string(hub_.port()) + "/hub/api";
    h.api_token = kServiceToken;
    h.client_id = "service-scaledl";
    h.callback_url = kCallback;
    h.hub_prefix = "/hub/";
    h.service_prefix = "/services/scaledl/";
    o.hub = h;
    server_ = std::make_unique<testing::ServedPortal>(o);
  }
  // Starts a sign-in at `path`: returns the state and checks the redirect.
  std::string start(const std::string& path) {
    const std::string r = testing::raw_request(
        server_->port(), "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(r.rfind("HTTP/1.1 302", 0), 0u) << r;
    const std::string loc = testing::raw_header(r, "Location");
    EXPECT_EQ(loc.rfind("/hub/api/oauth2/authorize?client_id=service-scaledl&redirect_uri=%2F"
                        "services%2Fscaledl%2Foauth_callback&response_type=code&state=",
                        0),
              0u)
        << loc;
    const std::string state = loc.substr(loc.find("state=") + 6);
    EXPECT_EQ(state.size(), 32u);
    EXPECT_NE(r.find("Set-Cookie: scaledl-oauth-state=" + state +
                     "; Path=/services/scaledl/; HttpOnly; SameSite=Lax; Max-Age=600"),
              std::string::npos)
        << r;
    return state;
  }
  FakeHub hub_;
  fs::path base_;
  std::unique_ptr<testing::ServedPortal> server_;
};

TEST_F(PortalHub, PagesRedirectToTheHubAndApiCallsGet401) {
  start("/services/scaledl/");
  start("/services/scaledl/run/bob/r1");
  auto api = server_->client().Get("/services/scaledl/api/runs");
  EXPECT_EQ(api->status, 401);
  EXPECT_FALSE(api->has_header("Location"));
  EXPECT_EQ(server_->client().Get("/services/scaledl")->get_header_value("Location"),
            "/services/scaledl/");
}

TEST_F(PortalHub, CallbackChecksTheStateThenSignsInWithTheHubsAdminFlag) {
  auto c = server_->client();
  const std::string state = start("/services/scaledl/run/bob/r1");
  const std::string cb = std::string(kCallback) + "?code=good-code&state=" + state;
  EXPECT_EQ(c.Get(cb)->status, 403);  // no state cookie: another browser
  EXPECT_EQ(c.Get(cb, {{"Cookie", "scaledl-oauth-state=" + std::string(32, 'f')}})->status, 403);
  EXPECT_EQ(hub_.token_calls(), 0);
  auto ok = c.Get(cb, {{"Cookie", "scaledl-oauth-state=" + state}});
  ASSERT_EQ(ok->status, 302);
  EXPECT_EQ(ok->get_header_value("Location"), "/services/scaledl/run/bob/r1");
  const std::string id = testing::cookie_value(ok, "scaledl-session");
  ASSERT_EQ(id.size(), 64u);
  auto me = c.Get("/services/scaledl/api/runs", {{"Cookie", "scaledl-session=" + id}});
  ASSERT_EQ(me->status, 200);
  const auto j = nlohmann::json::parse(me->body);
  EXPECT_EQ(j["user"], "alice");
  EXPECT_EQ(j["admin"], true);      // from /users/alice: the token's model had no admin field
  EXPECT_EQ(j["runs"].size(), 1u);  // an admin sees others' runs
  // The state was used: a replay fails, before the hub is asked again.
  EXPECT_EQ(c.Get(cb, {{"Cookie", "scaledl-oauth-state=" + state}})->status, 403);
  EXPECT_EQ(hub_.token_calls(), 1);
}

TEST_F(PortalHub, ARefusedCodeIsAnErrorPageNotASession) {
  const std::string state = start("/services/scaledl/");
  auto r = server_->client().Get(std::string(kCallback) + "?code=bad&state=" + state,
                                 {{"Cookie", "scaledl-oauth-state=" + state}});
  EXPECT_EQ(r->status, 502);
  EXPECT_NE(r->body.find("bad code"), std::string::npos);
  EXPECT_EQ(testing::cookie_value(r, "scaledl-session"), "");
}

}  // namespace
}  // namespace scaledl::portal
