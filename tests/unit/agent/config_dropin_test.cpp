// The drop-in files of conf.d and ${NAME} in values: merge order, a key set twice naming
// both files, errors naming the drop-in's own file and line, the environment.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "agent/config.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

class DropInTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& path, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }
  std::string DropIn(const std::string& name, const std::string& text) {
    return Write(dir_.path() + "/conf.d/" + name, text);
  }
  Result<AgentConfig> Load(const std::string& main_text) {
    Write(main_, main_text);
    return LoadConfig(main_, [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    });
  }

  testing::TempDir dir_;
  const std::string main_ = dir_.path() + "/granary.toml";
  std::map<std::string, std::string> env_;
};

std::string Source(const std::string& name) {
  return "[[source]]\nname = \"" + name + "\"\ntype = \"synthetic\"\n";
}

TEST_F(DropInTest, SourcesAppendInNameOrderAndSectionsMerge) {
  DropIn("20-b.toml", Source("b"));
  DropIn("10-a.toml", Source("a") + "\n[upload]\nbucket = \"x\"\n");
  DropIn("30-c.toml.disabled", Source("ignored"));
  DropIn(".hidden.toml", Source("ignored2"));
  auto c =
      Load("device = \"d\"\n" + Source("main") + "[upload]\nendpoint = \"http://127.0.0.1:1\"\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->sources.size(), 3u);
  EXPECT_EQ(c->sources[0].name, "main");
  EXPECT_EQ(c->sources[1].name, "a");
  EXPECT_EQ(c->sources[2].name, "b");
  EXPECT_EQ(c->upload.s3.bucket, "x");
  EXPECT_EQ(c->upload.s3.endpoint, "http://127.0.0.1:1");
  ASSERT_EQ(c->files.size(), 3u);
  EXPECT_EQ(c->files[1], dir_.path() + "/conf.d/10-a.toml");
}

TEST_F(DropInTest, AKeySetTwiceNamesBothFiles) {
  std::string drop = DropIn("a.toml", "\nlog_level = \"debug\"\n");
  auto c = Load("device = \"d\"\nlog_level = \"info\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(), drop + ":2: log_level: also set at " + main_ + ":2");
}

TEST_F(DropInTest, AnErrorInADropInNamesItsFileLineAndKey) {
  std::string drop = DropIn("meter.toml", Source("m") + "interval = \"fast\"\n");
  auto c = Load("device = \"d\"\nbogus = 1\n" + Source("s"));
  ASSERT_FALSE(c.ok());
  std::string message = c.error().message();
  // The main file's errors first, then the drop-in's; each in line order.
  EXPECT_EQ(message.substr(0, message.find('\n')), main_ + ":2: bogus: unknown key");
  EXPECT_NE(message.find("\n" + drop + ":4: source[1].interval: "), std::string::npos) << message;
}

TEST_F(DropInTest, ADuplicateSourceAcrossFilesNamesTheFirst) {
  std::string drop = DropIn("x.toml", Source("s"));
  auto c = Load("device = \"d\"\n" + Source("s"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(), drop +
                                     ":2: source[1].name: duplicate source name \"s\" "
                                     "(first defined at " +
                                     main_ + ":3)");
}

TEST_F(DropInTest, ASyntaxErrorInADropInNamesIt) {
  std::string drop = DropIn("x.toml", "[[source]\n");
  auto c = Load("device = \"d\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message().rfind(drop + ":1:", 0), 0u) << c.error().message();
}

TEST_F(DropInTest, EnvironmentVariablesExpand) {
  env_ = {{"METER_URL", "http://127.0.0.1:8080"}, {"DEV", "h017"}};
  auto c = Load(
      "device = \"${DEV}\"\nstate_dir = \"/x/$$HOME/a$b\"\n[[source]]\nname = \"m\"\n"
      "type = \"http_json\"\nurl = \"${METER_URL}/json\"\nheaders = [\"X-D: ${DEV}\"]\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->device, "h017");
  EXPECT_EQ(c->state_dir, "/x/$HOME/a$b");  // $$ is one $; a lone $ stays
  EXPECT_EQ(c->sources[0].settings->at_path("url").value_or(std::string()),
            "http://127.0.0.1:8080/json");
  EXPECT_EQ(c->sources[0].settings->at_path("headers[0]").value_or(std::string()), "X-D: h017");
}

TEST_F(DropInTest, AnUnsetVariableIsAnErrorNamingFileLineAndKey) {
  std::string drop = DropIn("m.toml", Source("m") + "rate = 1\n[upload]\nbucket = \"${BUCKET}\"\n");
  auto c = Load(
      "device = \"d\"\n\nstate_dir = \"${NOPE}\"\nlog_level = \"${bad-name}\"\n"
      "[mqtt]\nhost = \"${UNTERMINATED\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(),
            main_ + ":3: state_dir: environment variable NOPE is not set\n" + main_ +
                ":4: log_level: ${bad-name}: not a variable name ([A-Za-z_][A-Za-z0-9_]*)\n" +
                main_ + ":6: mqtt.host: unterminated \"${\" (write \"$$\" for a $)\n" + drop +
                ":6: upload.bucket: environment variable BUCKET is not set");
}

TEST_F(DropInTest, DeviceDefaultIsFlagged) {
  auto c = Load("");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(c->device_is_host_name);
  c = Load("device = \"d\"\n");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->device_is_host_name);
}

}  // namespace
}  // namespace granary
