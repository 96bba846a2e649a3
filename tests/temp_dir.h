// Temporary folders for tests: empty, unique to this process and the name (or the running test).
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace scaledl::testing {

// An empty folder "scaledl_<name>_<pid>" under the system temp dir.
inline std::filesystem::path fresh_temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path p = fs::temp_directory_path() / ("scaledl_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// The same, named after the running GoogleTest: "<prefix>_<test name>".
inline std::filesystem::path test_temp_dir(const std::string& prefix) {
  return fresh_temp_dir(prefix + "_" +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

}  // namespace scaledl::testing
