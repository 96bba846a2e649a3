// Text for the web: percent-encoding both ways, HTML escaping, form bodies and cookie headers.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace scaledl::portal {

// %XX decoded; '+' as a space when `plus_is_space` (form bodies). nullopt for a '%' not followed
// by two hex digits, or for a decoded NUL byte.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);
// Everything but unreserved characters (A-Z a-z 0-9 - . _ ~) as %XX; `keep_slash` keeps '/'.
std::string url_encode(std::string_view s, bool keep_slash = false);
// & < > " ' as entities: safe in element text and in quoted attribute values.
std::string html_escape(std::string_view s);

// An application/x-www-form-urlencoded body (or query string) as name/value pairs in order.
// nullopt when a pair is malformed (bad %XX, NUL).
using FormFields = std::vector<std::pair<std::string, std::string>>;
std::optional<FormFields> parse_form(std::string_view body);
// The first value of `name`, or "" when absent.
std::string form_value(const FormFields& f, std::string_view name);
// "a=b; c=d" as a map (the first of a repeated name wins).
std::map<std::string, std::string> parse_cookies(std::string_view header);

// "scheme://host[:port]" and the path of an absolute http(s) URL; nullopt when it is not one.
struct UrlParts {
  std::string scheme_host_port;  // "http://127.0.0.1:8081"
  std::string host_port;         // "127.0.0.1:8081"
  std::string path;              // "/hub/api" ("" when none)
};
std::optional<UrlParts> split_url(std::string_view url);

}  // namespace scaledl::portal
