// Sign-in through JupyterHub (the portal as a hub-managed service): the settings the hub passes
// in the environment, the authorize URL a browser is sent to, and the two calls to the hub's
// API that finish a login: the code for a token (POST {api}/oauth2/token) and the token for the
// user (GET {api}/user), with GET {api}/users/<name> (the service's own token) for the admin
// flag when the token's model lacks it.
#pragma once
#include <optional>
#include <string>

namespace scaledl::portal {

struct HubSettings {
  std::string api_url;         // JUPYTERHUB_API_URL (or --hub-api): http://127.0.0.1:8081/hub/api
  std::string api_token;       // JUPYTERHUB_API_TOKEN: the service's token and OAuth secret
  std::string client_id;       // JUPYTERHUB_CLIENT_ID: service-scaledl
  std::string callback_url;    // JUPYTERHUB_OAUTH_CALLBACK_URL: <prefix>oauth_callback
  std::string public_host;     // JUPYTERHUB_HOST: "" when the hub is on the browser's host
  std::string hub_prefix;      // JUPYTERHUB_BASE_URL + "hub/": /hub/
  std::string service_prefix;  // JUPYTERHUB_SERVICE_PREFIX: /services/scaledl/
};

// The hub's settings from the environment; nullopt without JUPYTERHUB_API_TOKEN (standalone).
// `api_override` (--hub-api) replaces JUPYTERHUB_API_URL. Error when the token is set but the
// API URL is missing or not http(s).
std::optional<HubSettings> hub_settings_from_env(const std::string& api_override);

// Where to send a browser to sign in: the hub's /hub/api/oauth2/authorize with our client id,
// callback, response_type=code and `state`.
std::string authorize_url(const HubSettings& hub, const std::string& state);

struct HubUser {
  std::string name;
  bool admin = false;
};

class HubClient {
 public:
  explicit HubClient(HubSettings hub) : hub_(std::move(hub)) {}
  const HubSettings& settings() const { return hub_; }
  // The access token for an authorization code; Error with the hub's reason when refused.
  std::string token_for_code(const std::string& code) const;
  // The user a token belongs to, with the admin flag (asked by name when the model lacks it).
  HubUser user_for_token(const std::string& token) const;

 private:
  HubSettings hub_;
};

}  // namespace scaledl::portal
