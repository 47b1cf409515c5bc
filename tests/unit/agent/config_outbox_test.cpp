// [[outbox]]: defaults, the checks on names, paths and kinds, drop-ins appending, and the
// ignore rule the outbox watcher applies.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "agent/config.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

using namespace std::chrono_literals;

class OutboxConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }
  std::string Main(const std::string& text) {
    return Write(path_, "state_dir = \"" + dir_.path() + "/state\"\n" + text);
  }
  std::string LoadError(const std::string& text) {
    Result<AgentConfig> config = LoadConfig(Main(text));
    EXPECT_FALSE(config.ok()) << text;
    return config.ok() ? "" : config.error().message();
  }
  std::string At(int line, const std::string& rest) const {
    return path_ + ":" + std::to_string(line) + ": " + rest;
  }

  testing::TempDir dir_;
  const std::string path_ = dir_.path() + "/granary.toml";
};

TEST_F(OutboxConfigTest, Defaults) {
  Result<AgentConfig> c = LoadConfig(Main("[[outbox]]\nname = \"errors\"\npath = \"/srv/out\"\n"));
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->outboxes.size(), 1u);
  const OutboxConfig& o = c->outboxes[0];
  EXPECT_EQ(o.name, "errors");
  EXPECT_EQ(o.path, "/srv/out");
  EXPECT_EQ(o.kind, "errors");  // the name, as it is a valid kind
  EXPECT_TRUE(o.delete_after);
  EXPECT_EQ(o.settle, 5s);
  EXPECT_EQ(o.rescan, 5min);
  EXPECT_TRUE(o.ignore.empty());
  EXPECT_FALSE(o.assign_uuid);
  EXPECT_NE(RenderEffectiveConfig(*c).find("\n[[outbox]]\nname = \"errors\"\npath = \"/srv/out\"\n"
                                           "kind = \"errors\"\nafter = \"delete\"\n"),
            std::string::npos);
}

TEST_F(OutboxConfigTest, EveryKey) {
  Result<AgentConfig> c = LoadConfig(
      Main("[[outbox]]\nname = \"Cam.0\"\npath = \"/srv/cam\"\nkind = \"clip\"\nafter = \"keep\"\n"
           "settle = \"2s\"\nrescan = \"1m\"\nignore = [\"*.swp\"]\nassign_uuid = true\n"));
  ASSERT_TRUE(c.ok()) << c.error().message();
  const OutboxConfig& o = c->outboxes[0];
  EXPECT_EQ(o.kind, "clip");
  EXPECT_FALSE(o.delete_after);
  EXPECT_EQ(o.settle, 2s);
  EXPECT_EQ(o.rescan, 1min);
  EXPECT_EQ(o.ignore, std::vector<std::string>{"*.swp"});
  EXPECT_TRUE(o.assign_uuid);
}

TEST_F(OutboxConfigTest, ErrorsNameTheKey) {
  EXPECT_EQ(LoadError("[[outbox]]\nname = \"Cam\"\npath = \"rel/dir\"\n"),
            At(2,
               "outbox[0].kind: required: the name \"Cam\" is not a report kind (1 to 64 "
               "characters of a-z 0-9 _ -, starting a-z or 0-9)") +
                "\n" + At(4, "outbox[0].path: must be an absolute path (got \"rel/dir\")"));
}

TEST_F(OutboxConfigTest, BadKindAndAfter) {
  EXPECT_EQ(LoadError("[[outbox]]\nname = \"a\"\npath = \"/srv/a\"\nkind = \"Bad Kind\"\n"
                      "after = \"move\"\n"),
            At(5,
               "outbox[0].kind: must be 1 to 64 characters of a-z 0-9 _ -, starting a-z or "
               "0-9 (got \"Bad Kind\")") +
                "\n" +
                At(6, "outbox[0].after: must be one of \"delete\", \"keep\" (got \"move\")"));
}

TEST_F(OutboxConfigTest, PathMustLieOutsideTheStateDir) {
  const std::string state = dir_.path() + "/state";
  EXPECT_EQ(LoadError("[[outbox]]\nname = \"a\"\npath = \"" + state + "/outbox\"\n"),
            At(4, "outbox[0].path: must lie outside state_dir \"" + state + "\" (got \"" + state +
                      "/outbox\")"));
}

TEST_F(OutboxConfigTest, DuplicateNameAndPath) {
  EXPECT_EQ(
      LoadError("[[outbox]]\nname = \"a\"\npath = \"/srv/a\"\n"
                "[[outbox]]\nname = \"a\"\npath = \"/srv/a/\"\n"),
      At(6, "outbox[1].name: duplicate outbox name \"a\" (first defined at " + path_ + ":3)") +
          "\n" +
          At(7,
             "outbox[1].path: another outbox already takes from \"/srv/a/\" "
             "(defined at " +
                 path_ + ":4)"));
}

TEST_F(OutboxConfigTest, DropInsAppend) {
  ::mkdir((dir_.path() + "/conf.d").c_str(), 0755);
  Write(dir_.path() + "/conf.d/10-b.toml", "[[outbox]]\nname = \"b\"\npath = \"/srv/b\"\n");
  Result<AgentConfig> c = LoadConfig(Main("[[outbox]]\nname = \"a\"\npath = \"/srv/a\"\n"));
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->outboxes.size(), 2u);
  EXPECT_EQ(c->outboxes[0].name, "a");
  EXPECT_EQ(c->outboxes[1].name, "b");
}

TEST(OutboxRules, KindsAndIgnoredNames) {
  EXPECT_TRUE(ValidKind("error-report_2"));
  EXPECT_FALSE(ValidKind(""));
  EXPECT_FALSE(ValidKind("-x"));
  EXPECT_FALSE(ValidKind("Upper"));
  EXPECT_FALSE(ValidKind(std::string(65, 'a')));
  OutboxConfig o;
  o.ignore = {"*.swp", "core.*"};
  for (const char* name : {".hidden", "a.tmp", "b.part", "x.swp", "core.123", ""})
    EXPECT_TRUE(OutboxIgnores(o, name)) << name;
  for (const char* name : {"a.json", "cam0.jpg", "tmp", "part.bin", "x.swp.gz"})
    EXPECT_FALSE(OutboxIgnores(o, name)) << name;
}

}  // namespace
}  // namespace granary
