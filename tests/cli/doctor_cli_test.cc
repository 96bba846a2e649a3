// scaledl doctor on this machine: every check passes or warns with a reason (none fails), the
// CPU check reports the ISA flags and AMX, --json parses, a bad --storage is one line, exit 2.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/run_cli.h"

namespace scaledl::testing {
namespace {

TEST(DoctorCli, EveryCheckPassesOrWarnsWithAReasonAndJsonParses) {
  const CliResult r =
      run_cli("doctor --json --storage " SCALEDL_SOURCE_DIR "/tests/fixtures", false);
  ASSERT_EQ(r.code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  std::set<std::string> names;
  for (const nlohmann::json& c : j["checks"]) {
    const std::string status = c["status"];
    names.insert(c["check"].get<std::string>());
    EXPECT_TRUE(status == "PASS" || status == "WARN") << c.dump();
    EXPECT_FALSE(c["detail"].get<std::string>().empty()) << c.dump();  // a reason, always
  }
  for (const char* want : {"cpu", "cores and memory", "gpus", "gpu peer access", "mpi", "slurm",
                           "infiniband", "storage"})
    EXPECT_TRUE(names.count(want)) << want;
  const nlohmann::json& cpu = j["checks"][0]["data"];
  EXPECT_TRUE(cpu.contains("amx") && cpu["amx"].is_boolean());
  EXPECT_GT(j["checks"].back()["data"]["bytes"].get<int64_t>(), 0);
}

TEST(DoctorCli, AMissingStoragePathIsOneLine) {
  expect_user_error("doctor --storage /no/such/folder", "--storage /no/such/folder");
}

}  // namespace
}  // namespace scaledl::testing
