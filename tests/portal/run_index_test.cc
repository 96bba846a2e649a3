// Run ids and traversal attempts, the scan of --runs roots with ownership, run states, and the
// live series read from a byte cursor.
#include "portal/run_index.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "portal/series.h"
#include "temp_dir.h"

namespace scaledl::portal {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text, bool append = false) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, append ? std::ios::app : std::ios::trunc) << text;
}

std::vector<std::string> ids(const std::vector<RunRef>& refs) {
  std::vector<std::string> out;
  for (const RunRef& r : refs) out.push_back(r.id);
  return out;
}

TEST(PortalRunId, ValidIdsAreRelativePathsOfUpToThreeComponents) {
  EXPECT_EQ(clean_run_id("alice/train-20261203-101500").value(), "alice/train-20261203-101500");
  EXPECT_EQ(clean_run_id("a/b/c").value(), "a/b/c");
  EXPECT_EQ(clean_run_id("alice%2Fr1").value(), "alice/r1");  // decoded first
  EXPECT_EQ(clean_run_id("r_1.2+x@y=z,w:v~").value(), "r_1.2+x@y=z,w:v~");
}

TEST(PortalRunId, TraversalAndOddPathsAreRefused) {
  for (const char* bad : {"",
                          "..",
                          "../etc",
                          "a/../b",
                          "a/..",
                          "%2e%2e",
                          "%2E%2E/%2e%2e/etc/passwd",
                          "..%2fetc",
                          "/etc/passwd",
                          "%2fetc",
                          "a//b",
                          "a/",
                          "/",
                          ".hidden",
                          "a/.git",
                          "a%00b",
                          "a\\b",
                          "%252e%252e",
                          "a b",
                          "a/b/c/d",
                          "%zz",
                          "a%",
                          "a\nb"})
    EXPECT_FALSE(clean_run_id(bad)) << bad;
  EXPECT_FALSE(clean_run_id(std::string(600, 'a')));
  EXPECT_FALSE(clean_run_id(std::string("a\0b", 3)));
}

class PortalRunIndex : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = testing::test_temp_dir("portal_index");
    root_ = base_ / "runs";
    write(root_ / "alice/r1/summary.json", R"({"schema":1,"model":"lenet5","top1":91.5,"steps":300,
                                              "images_per_sec":1200.5,"config":{"batch":16}})");
    write(root_ / "alice/r1/sub/status.json", "{}");  // inside a run: not a run of its own
    write(root_ / "bob/proj/r2/status.json", R"({"state":"completed","step":7,"steps_planned":7})");
    write(root_ / "top/status.json", R"({"state":"failed","error":"boom"})");
    write(root_ / "a/b/c/deep/summary.json", "{}");  // four levels down: not searched
    fs::create_directories(root_ / "alice/notrun");
    write(base_ / "outside/secret/summary.json", R"({"top1":1})");
    write(base_ / "outside/passwd", "root:x:0:0");
    fs::create_directory_symlink(base_ / "outside/secret", root_ / "alice/link");
    fs::create_directory_symlink(base_ / "outside", root_ / "escape");
  }
  fs::path base_, root_;
};

TEST_F(PortalRunIndex, ScanFindsRunFoldersToDepthThreeAndSkipsLinks) {
  const RunIndex index({root_.string()});
  EXPECT_EQ(ids(index.scan()), (std::vector<std::string>{"alice/r1", "bob/proj/r2", "top"}));
  const std::string me = user_name(::geteuid());
  for (const RunRef& r : index.scan()) {
    EXPECT_EQ(r.owner, me);
    EXPECT_EQ(r.dir, fs::canonical(root_).string() + "/" + r.id);
  }
}

TEST_F(PortalRunIndex, FindRefusesTraversalLinksAndNonRuns) {
  const RunIndex index({root_.string()});
  RunRef ref;
  EXPECT_EQ(index.find("alice/r1", &ref), RunIndex::Lookup::found);
  EXPECT_EQ(ref.id, "alice/r1");
  EXPECT_EQ(index.find("alice%2fr1", &ref), RunIndex::Lookup::found);
  EXPECT_EQ(index.find("../outside/secret", &ref), RunIndex::Lookup::bad_id);
  EXPECT_EQ(index.find("%2e%2e/outside/secret", &ref), RunIndex::Lookup::bad_id);
  EXPECT_EQ(index.find(base_.string() + "/outside/secret", &ref), RunIndex::Lookup::bad_id);
  EXPECT_EQ(index.find("alice/link", &ref), RunIndex::Lookup::not_found);     // a link out
  EXPECT_EQ(index.find("escape/secret", &ref), RunIndex::Lookup::not_found);  // through a link
  EXPECT_EQ(index.find("alice/notrun", &ref), RunIndex::Lookup::not_found);
  EXPECT_EQ(index.find("alice/r1/sub", &ref), RunIndex::Lookup::found);  // asked for by name
  EXPECT_EQ(index.find("nobody/here", &ref), RunIndex::Lookup::not_found);
  EXPECT_EQ(index.find_dir((root_ / "bob/proj/r2").string())->id, "bob/proj/r2");
  EXPECT_FALSE(index.find_dir((base_ / "outside/secret").string()));
  EXPECT_FALSE(index.find_dir((root_ / "alice/link").string()));  // its real path is outside
}

TEST_F(PortalRunIndex, FilesInsideARunAreNotFollowedOutThroughLinks) {
  fs::create_symlink(base_ / "outside/passwd", root_ / "alice/r1/status.json");
  const RunIndex index({root_.string()});
  RunRef ref;
  ASSERT_EQ(index.find("alice/r1", &ref), RunIndex::Lookup::found);
  const RunInfo info = load_run(ref, 0, "host");
  EXPECT_TRUE(info.status.is_null());
  EXPECT_EQ(info.state.state, "unknown");
  EXPECT_EQ(info.summary["top1"], 91.5);
}

TEST_F(PortalRunIndex, OwnershipDecidesWhoSeesARun) {
  const RunIndex index({root_.string()});
  RunRef ref;
  ASSERT_EQ(index.find("bob/proj/r2", &ref), RunIndex::Lookup::found);
  const std::string me = user_name(::geteuid());
  EXPECT_TRUE((Viewer{me, false}.may_see(ref)));
  EXPECT_FALSE((Viewer{"someone-else", false}.may_see(ref)));
  EXPECT_TRUE((Viewer{"someone-else", true}.may_see(ref)));
  if (::geteuid() != 0) GTEST_SKIP() << "handing a folder to another user needs root";
  const passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  ASSERT_EQ(::chown((root_ / "bob/proj/r2").c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  ASSERT_EQ(index.find("bob/proj/r2", &ref), RunIndex::Lookup::found);
  EXPECT_EQ(ref.owner, "nobody");
  EXPECT_FALSE((Viewer{me, false}.may_see(ref)));
  EXPECT_TRUE((Viewer{"nobody", false}.may_see(ref)));
}

TEST_F(PortalRunIndex, UnreadableRootIsAnError) {
  EXPECT_THROW(RunIndex({(base_ / "missing").string()}), Error);
  write(base_ / "file", "x");
  EXPECT_THROW(RunIndex({(base_ / "file").string()}), Error);
}

TEST_F(PortalRunIndex, LoadRunReadsModelStepMetricsAndJob) {
  write(root_ / "alice/r1/job.json", R"({"job_id":"4242"})");
  const RunIndex index({root_.string()});
  RunRef ref;
  ASSERT_EQ(index.find("alice/r1", &ref), RunIndex::Lookup::found);
  const RunInfo r = load_run(ref, 0, "host");
  EXPECT_EQ(r.model, "lenet5");
  EXPECT_EQ(r.step, 300);
  EXPECT_EQ(r.job_id, "4242");
  const auto m = summary_metrics(r.summary);
  ASSERT_EQ(m.size(), 3u);  // top1, steps, images_per_sec ("schema" and objects left out)
  const nlohmann::json j = run_json(r, false);
  EXPECT_EQ(j["metrics"]["images_per_sec"], 1200.5);
  EXPECT_FALSE(j.contains("summary"));
}

TEST(PortalRunState, RunningLostAndFinishedStates) {
  const std::string host = "node07";
  nlohmann::json r = {{"state", "running"}, {"step", 5},         {"steps_planned", 10},
                      {"host", host},       {"pid", ::getpid()}, {"heartbeat_at", 1000.0},
                      {"heartbeat_s", 10.0}};
  EXPECT_EQ(run_state(r, 1034, host).state, "running");  // 34 s <= 3 * 10 + 5
  EXPECT_EQ(run_state(r, 1036, host).state, "lost");
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a pid that is gone
  r["pid"] = child;
  EXPECT_EQ(run_state(r, 1001, host).state, "lost");
  EXPECT_EQ(run_state(r, 1001, "elsewhere").state, "running");  // another host's pid: unknown
  EXPECT_EQ(run_state({{"state", "completed"}}, 0, host).state, "completed");
  EXPECT_EQ(run_state(nullptr, 0, host).state, "unknown");
  EXPECT_EQ(run_state({{"state", 3}}, 0, host).state, "unknown");
  const RunState bad = run_state({{"state", "running"}, {"heartbeat_at", "x"}}, 100, host);
  EXPECT_EQ(bad.state, "lost");  // odd types are read as missing, never thrown
}

TEST(PortalSeries, ReadsOnlyNewCompleteLinesFromTheCursor) {
  const fs::path dir = testing::test_temp_dir("portal_series");
  write(dir / "steps.jsonl",
        "{\"step\":10,\"loss\":2.5,\"images_per_sec\":100}\n"
        "{\"step\":20,\"loss\":2.0,\"images_per_sec\":110}\n"
        "not json\n"
        "{\"step\":30,\"loss\":1.5,\"images_per_sec\":120}\n"
        "{\"step\":40,\"lo");  // being written
  write(dir / "evals.jsonl", "{\"step\":20,\"epoch\":0,\"top1\":55.5}\n");
  write(dir / "monitor.jsonl",
        R"({"time":1000.5,"cpu_process_pct":150,"rss_mb":300,"disk_read_mb_s":1,)"
        R"("disk_write_mb_s":2,"net":{"eth0":{"rx_mb_s":0.5,"tx_mb_s":0.25},)"
        R"("ib0":{"rx_mb_s":1.5,"tx_mb_s":1}}})"
        "\n");
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY));
  nlohmann::json s = read_series(fd.get(), SeriesCursor{});
  EXPECT_EQ(s["loss"], nlohmann::json::parse("[[10,2.5],[20,2.0],[30,1.5]]"));
  EXPECT_EQ(s["ips"].size(), 3u);
  EXPECT_EQ(s["top1"], nlohmann::json::parse("[[20,55.5]]"));
  EXPECT_EQ(s["monitor"]["cpu"], nlohmann::json::parse("[[1000.5,150]]"));
  EXPECT_EQ(s["monitor"]["net_rx"], nlohmann::json::parse("[[1000.5,2.0]]"));
  EXPECT_EQ(s["monitor"]["net_tx"], nlohmann::json::parse("[[1000.5,1.25]]"));
  EXPECT_FALSE(s["reset"]);
  const std::optional<SeriesCursor> next = parse_cursor(s["next"].get<std::string>());
  ASSERT_TRUE(next);
  nlohmann::json again = read_series(fd.get(), *next);
  EXPECT_TRUE(again["loss"].empty());
  EXPECT_TRUE(again["top1"].empty());
  EXPECT_EQ(again["next"], s["next"]);
  write(dir / "steps.jsonl", "ss\":1.0,\"images_per_sec\":130}\n", true);  // the line ends
  again = read_series(fd.get(), *next);
  EXPECT_EQ(again["loss"], nlohmann::json::parse("[[40,1.0]]"));
  EXPECT_TRUE(again["monitor"]["cpu"].empty());
  write(dir / "steps.jsonl", "{\"step\":1,\"loss\":9}\n");  // rewritten, shorter: start over
  again = read_series(fd.get(), *parse_cursor(s["next"].get<std::string>()));
  EXPECT_TRUE(again["reset"]);
  EXPECT_EQ(again["loss"], nlohmann::json::parse("[[1,9]]"));
  EXPECT_EQ(again["top1"].size(), 1u);
}

TEST(PortalSeries, CursorText) {
  EXPECT_EQ(parse_cursor("")->steps, 0u);
  const SeriesCursor c = parse_cursor("12.0.345").value();
  EXPECT_EQ(c.steps, 12u);
  EXPECT_EQ(c.monitor, 345u);
  EXPECT_EQ(c.str(), "12.0.345");
  for (const char* bad : {"1", "1.2", "1.2.3.4", "a.b.c", "-1.0.0", "1..2", " 1.2.3", "1.2.3 ",
                          "99999999999999999999.0.0"})
    EXPECT_FALSE(parse_cursor(bad)) << bad;
}

}  // namespace
}  // namespace scaledl::portal
