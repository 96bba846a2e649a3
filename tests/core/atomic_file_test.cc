// AtomicFile / write_file_atomic: publish on commit, keep the old file on any failure.
#include "core/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "temp_dir.h"

namespace scaledl {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::test_temp_dir("atomic");
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  // Files in the directory other than `keep`.
  int stray_files(const std::string& keep) const {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().filename() != keep) ++n;
    return n;
  }

  fs::path dir_;
};

TEST_F(AtomicFileTest, WritesAndReplaces) {
  std::string path = (dir_ / "a.bin").string();
  write_file_atomic(path, "first");
  EXPECT_EQ(read(path), "first");
  write_file_atomic(path, std::string("sec\0nd", 6));
  EXPECT_EQ(read(path), std::string("sec\0nd", 6));
  EXPECT_EQ(stray_files("a.bin"), 0);
}

TEST_F(AtomicFileTest, StreamingCommitAndAbandon) {
  std::string path = (dir_ / "s.bin").string();
  write_file_atomic(path, "good");
  {
    AtomicFile f(path);
    f.write("new ", 4);
    f.write("data");
    EXPECT_TRUE(fs::exists(f.temp_path()));
    EXPECT_EQ(read(path), "good");  // not visible before commit
    f.commit();
  }
  EXPECT_EQ(read(path), "new data");
  {
    AtomicFile f(path);
    f.write("half");
  }  // destroyed without commit
  EXPECT_EQ(read(path), "new data");
  EXPECT_EQ(stray_files("s.bin"), 0);
}

TEST_F(AtomicFileTest, MissingDirectoryNamesPathAndHint) {
  std::string path = (dir_ / "no_such_dir" / "x.bin").string();
  try {
    write_file_atomic(path, "x");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.component(), "io");
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("check the directory exists and is writable"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(AtomicFileTest, TargetIsADirectoryLeavesItAndNoTemp) {
  fs::path target = dir_ / "sub";
  fs::create_directories(target);
  std::ofstream(target / "inside.txt") << "keep";
  EXPECT_THROW(write_file_atomic(target.string(), "x"), Error);
  EXPECT_TRUE(fs::is_directory(target));
  EXPECT_EQ(read(target / "inside.txt"), "keep");
  EXPECT_EQ(stray_files("sub"), 0);
}

// A write that fails part way (file size limit, as a full disk would) keeps the old file.
TEST_F(AtomicFileTest, FailedWriteKeepsOldFile) {
  std::string path = (dir_ / "ckpt.bin").string();
  write_file_atomic(path, "old good contents");
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  bool threw = false;
  std::string msg;
  try {
    write_file_atomic(path, std::string(100000, 'z'));
  } catch (const Error& e) {
    threw = true;
    msg = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(threw);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_EQ(read(path), "old good contents");
  EXPECT_EQ(stray_files("ckpt.bin"), 0);
}

}  // namespace
}  // namespace scaledl
