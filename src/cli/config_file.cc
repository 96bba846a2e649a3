// --config FILE: a JSON object whose keys are a subcommand's long flag names.
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"

namespace scaledl::cli {

namespace {
std::string scalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return v.dump();
}
}  // namespace

std::vector<std::string> expand_config(CLI::App& app, const std::vector<std::string>& args) {
  std::string path;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config") {
      if (i + 1 >= args.size()) throw Error("config", "--config needs a JSON file path");
      path = args[++i];
    } else if (args[i].rfind("--config=", 0) == 0) {
      path = args[i].substr(9);
    } else {
      rest.push_back(args[i]);
    }
  }
  if (path.empty()) return rest;
  if (rest.empty() || rest[0].rfind("-", 0) == 0)
    throw Error("config", "--config goes after a subcommand, e.g. scaledl train --config " + path);
  CLI::App* sub = nullptr;
  for (CLI::App* a : app.get_subcommands({}))
    if (a->get_name() == rest[0]) sub = a;
  if (!sub) return rest;  // CLI11 reports the unknown subcommand
  std::ifstream in(path);
  if (!in) throw Error("config", path + ": cannot open; check the --config path");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error("config", path + ": not valid JSON at byte " + std::to_string(e.byte) +
                              "; fix the file (it holds one object of flag: value)");
  }
  if (!j.is_object()) throw Error("config", path + ": must hold one JSON object of flag: value");
  std::vector<std::string> out{rest[0]};
  for (const auto& [key, value] : j.items()) {
    std::string flag = "--" + key;
    for (char& c : flag)
      if (c == '_') c = '-';
    const CLI::Option* opt = sub->get_option_no_throw(flag);
    if (!opt)
      throw Error("config", path + ": key '" + key + "' is not a flag of scaledl " + rest[0] +
                                "; see scaledl " + rest[0] + " --help");
    if (value.is_boolean()) {
      if (opt->get_expected_max() == 0) {  // a flag: --x or its --no-x form
        out.push_back(value.get<bool>() ? flag : "--no-" + flag.substr(2));
      } else {
        out.push_back(flag);
        out.push_back(value.get<bool>() ? "true" : "false");
      }
    } else if (value.is_array()) {
      out.push_back(flag);
      std::string joined;
      for (const auto& v : value) joined += (joined.empty() ? "" : ",") + scalar(v);
      out.push_back(joined);
    } else {
      out.push_back(flag);
      out.push_back(scalar(value));
    }
  }
  out.insert(out.end(), rest.begin() + 1, rest.end());
  return out;
}

}  // namespace scaledl::cli
