// [[watcher]] type "runs": defaults, the outbox it writes into, and the checks on its counter,
// regexes and file templates.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "agent/config.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

using namespace std::chrono_literals;

class WatcherConfigTest : public ::testing::Test {
 protected:
  Result<AgentConfig> Load(const std::string& text) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc)
        << "state_dir = \"" << dir_.path() << "/state\"\n"
        << "[[outbox]]\nname = \"runs\"\npath = \"/srv/runs\"\n"
        << text;
    return LoadConfig(path_);
  }
  std::string LoadError(const std::string& text) {
    Result<AgentConfig> c = Load(text);
    EXPECT_FALSE(c.ok()) << text;
    return c.ok() ? "" : c.error().message();
  }

  testing::TempDir dir_;
  const std::string path_ = dir_.path() + "/granary.toml";
};

TEST_F(WatcherConfigTest, Defaults) {
  Result<AgentConfig> c = Load(
      "[[watcher]]\nname = \"merlin\"\ntype = \"runs\"\ncounter_file = \"/isis/lastruns.txt\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->run_watchers.size(), 1u);
  const RunsWatcherConfig& w = c->run_watchers[0];
  EXPECT_EQ(w.outbox, "runs");  // the only one
  EXPECT_EQ(w.outbox_path, "/srv/runs");
  EXPECT_EQ(w.counter_regex, kDefaultCounterRegex);
  EXPECT_EQ(w.interval, 5s);
  EXPECT_EQ(w.file_timeout, 10min);
  EXPECT_EQ(w.kind, "run");
  EXPECT_FALSE(w.start_run.has_value());
  EXPECT_NE(RenderEffectiveConfig(*c).find("\n[[watcher]]\nname = \"merlin\"\ntype = \"runs\"\n"),
            std::string::npos);
}

TEST_F(WatcherConfigTest, RunDirWithTemplatesAndStartRun) {
  Result<AgentConfig> c = Load(
      "[[watcher]]\nname = \"clips\"\nrun_dir = \"/srv/clips\"\nrun_dir_pattern = "
      "'session-(\\d+)'\n"
      "file_template = [\"/a/{run:05}.mp4\", \"/a/{instrument}.txt\"]\nstart_run = 7\n"
      "kind = \"session\"\ninterval = \"1s\"\nfile_timeout = \"30s\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  const RunsWatcherConfig& w = c->run_watchers[0];
  EXPECT_EQ(w.file_templates.size(), 2u);
  EXPECT_EQ(w.start_run, 7u);
  EXPECT_EQ(w.kind, "session");
  EXPECT_EQ(w.interval, 1s);
}

TEST_F(WatcherConfigTest, Refusals) {
  EXPECT_NE(LoadError("[[watcher]]\nname = \"w\"\n").find("set exactly one of counter_file"),
            std::string::npos);
  EXPECT_NE(LoadError("[[watcher]]\nname = \"w\"\ncounter_file = \"/c\"\nrun_dir = \"/d\"\n"
                      "run_dir_pattern = '(\\d+)'\n")
                .find("set exactly one"),
            std::string::npos);
  EXPECT_NE(
      LoadError("[[watcher]]\nname = \"w\"\ncounter_file = \"/c\"\ncounter_regex = '(\\d+)'\n")
          .find("counter_regex"),
      std::string::npos);
  EXPECT_NE(LoadError("[[watcher]]\nname = \"w\"\nrun_dir = \"/d\"\n").find("run_dir_pattern"),
            std::string::npos);
  EXPECT_NE(LoadError("[[watcher]]\nname = \"w\"\ncounter_file = \"/c\"\nfile_template = "
                      "\"/d/{date}\"\n")
                .find("unknown field {date}"),
            std::string::npos);
  EXPECT_NE(
      LoadError("[[watcher]]\nname = \"w\"\ncounter_file = \"/c\"\nfile_template = \"d/{run}\"\n")
          .find("absolute path"),
      std::string::npos);
  EXPECT_NE(LoadError("[[watcher]]\nname = \"w\"\ncounter_file = \"/c\"\noutbox = \"nope\"\n")
                .find("no [[outbox]] named \"nope\""),
            std::string::npos);
  EXPECT_NE(LoadError("[[watcher]]\nname = \"w\"\ntype = \"files\"\ncounter_file = \"/c\"\n")
                .find("type"),
            std::string::npos);
  EXPECT_NE(
      LoadError("[[watcher]]\nname = \"w\"\ncounter_file = \"/c\"\n[[watcher]]\nname = \"w\"\n"
                "counter_file = \"/c\"\n")
          .find("duplicate watcher name"),
      std::string::npos);
  EXPECT_NE(LoadError("[[outbox]]\nname = \"b\"\npath = \"/srv/b\"\n[[watcher]]\nname = \"w\"\n"
                      "counter_file = \"/c\"\n")
                .find("several [[outbox]]"),
            std::string::npos);
}

}  // namespace
}  // namespace granary
