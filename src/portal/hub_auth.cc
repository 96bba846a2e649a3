// JupyterHub's OAuth flow, from the service's side.
#include "portal/hub_auth.h"

#include <httplib.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "portal/web_text.h"

namespace scaledl::portal {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string with_slash(std::string s) {
  if (s.empty() || s.back() != '/') s += '/';
  if (s.front() != '/') s = "/" + s;
  return s;
}

// One request to the hub's API; the parsed JSON body of a 2xx answer, else Error.
nlohmann::json hub_call(const HubSettings& hub, const std::string& method, const std::string& path,
                        const std::string& token, const std::string& form_body = "") {
  const std::optional<UrlParts> url = split_url(hub.api_url);
  if (!url) throw Error("portal", "hub API URL " + hub.api_url + " is not http(s)");
  httplib::Client client(url->scheme_host_port);
  client.set_connection_timeout(5);
  client.set_read_timeout(15);
  const httplib::Headers headers = {{"Authorization", "token " + token},
                                    {"Accept", "application/json"}};
  std::string full = url->path;
  if (!full.empty() && full.back() == '/') full.pop_back();
  full += path;
  httplib::Result r =
      method == "POST" ? client.Post(full, headers, form_body, "application/x-www-form-urlencoded")
                       : client.Get(full, headers);
  if (!r)
    throw Error("portal", "the hub's API at " + hub.api_url + " did not answer (" +
                              httplib::to_string(r.error()) +
                              "); is the hub up, and JUPYTERHUB_API_URL right?");
  if (r->status / 100 != 2) {
    std::string reason = r->body.substr(0, 300);
    const nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_object())
      for (const char* k : {"error_description", "message", "error"})
        if (j.contains(k) && j[k].is_string()) {
          reason = j[k];
          break;
        }
    throw Error("portal", method + " " + full + " to the hub: HTTP " + std::to_string(r->status) +
                              " (" + reason + "); sign in again from the hub");
  }
  nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object())
    throw Error("portal", method + " " + full + ": the hub's answer is not a JSON object");
  return j;
}

}  // namespace

std::optional<HubSettings> hub_settings_from_env(const std::string& api_override) {
  HubSettings h;
  h.api_token = env("JUPYTERHUB_API_TOKEN");
  if (h.api_token.empty()) return std::nullopt;
  h.api_url = api_override.empty() ? env("JUPYTERHUB_API_URL") : api_override;
  if (!split_url(h.api_url))
    throw Error("portal", "JUPYTERHUB_API_TOKEN is set but the hub API URL '" + h.api_url +
                              "' is not http(s)://host/...; set JUPYTERHUB_API_URL or --hub-api");
  h.client_id = env("JUPYTERHUB_CLIENT_ID");
  if (h.client_id.empty()) h.client_id = "service-" + env("JUPYTERHUB_SERVICE_NAME");
  if (h.client_id == "service-")
    throw Error("portal",
                "JUPYTERHUB_CLIENT_ID is not set; run the portal as a hub-managed "
                "service (c.JupyterHub.services), which sets it");
  h.service_prefix =
      with_slash(env("JUPYTERHUB_SERVICE_PREFIX").empty() ? "/services/scaledl/"
                                                          : env("JUPYTERHUB_SERVICE_PREFIX"));
  h.callback_url = env("JUPYTERHUB_OAUTH_CALLBACK_URL");
  if (h.callback_url.empty()) h.callback_url = h.service_prefix + "oauth_callback";
  h.public_host = env("JUPYTERHUB_HOST");
  while (!h.public_host.empty() && h.public_host.back() == '/') h.public_host.pop_back();
  h.hub_prefix =
      with_slash(env("JUPYTERHUB_BASE_URL").empty() ? "/" : env("JUPYTERHUB_BASE_URL")) + "hub/";
  return h;
}

std::string authorize_url(const HubSettings& hub, const std::string& state) {
  return hub.public_host + hub.hub_prefix +
         "api/oauth2/authorize?client_id=" + url_encode(hub.client_id) +
         "&redirect_uri=" + url_encode(hub.callback_url) +
         "&response_type=code&state=" + url_encode(state);
}

std::string HubClient::token_for_code(const std::string& code) const {
  const std::string body = "client_id=" + url_encode(hub_.client_id) +
                           "&client_secret=" + url_encode(hub_.api_token) +
                           "&grant_type=authorization_code&code=" + url_encode(code) +
                           "&redirect_uri=" + url_encode(hub_.callback_url);
  const nlohmann::json j = hub_call(hub_, "POST", "/oauth2/token", hub_.api_token, body);
  if (!j.contains("access_token") || !j["access_token"].is_string())
    throw Error("portal", "the hub's token answer has no access_token; sign in again");
  return j["access_token"];
}

HubUser HubClient::user_for_token(const std::string& token) const {
  const nlohmann::json j = hub_call(hub_, "GET", "/user", token);
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty())
    throw Error("portal", "the hub's user model has no name; sign in again");
  if (j.value("kind", std::string("user")) != "user")
    throw Error("portal", "the token belongs to a " + j.value("kind", std::string("?")) +
                              ", not a user; sign in as a person");
  HubUser u{j["name"], false};
  if (j.contains("admin") && j["admin"].is_boolean()) {
    u.admin = j["admin"];
  } else {  // the OAuth token's scopes hid it: ask with the service's own token
    const nlohmann::json m = hub_call(hub_, "GET", "/users/" + url_encode(u.name), hub_.api_token);
    u.admin = m.contains("admin") && m["admin"].is_boolean() && m["admin"].get<bool>();
  }
  return u;
}

}  // namespace scaledl::portal
