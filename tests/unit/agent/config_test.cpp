// LoadConfig and RenderEffectiveConfig against a fake source registry
// (fake_sources_for_config_test.cpp). Messages are checked whole: file, line, key, problem.
#include "agent/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/support/test_util.h"

namespace granary {
namespace {

using namespace std::chrono_literals;

class ConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << text;
    return path_;
  }

  // The error text of loading `text`; a failure of the test when it loads.
  std::string LoadError(const std::string& text) {
    Result<AgentConfig> config = LoadConfig(Write(text));
    EXPECT_FALSE(config.ok()) << text;
    return config.ok() ? "" : config.error().message();
  }

  AgentConfig Load(const std::string& text) {
    Result<AgentConfig> config = LoadConfig(Write(text));
    EXPECT_TRUE(config.ok()) << config.error().message();
    return config.ok() ? *config : AgentConfig{};
  }

  // "FILE:LINE: rest" for the file Write writes.
  std::string At(int line, const std::string& rest) const {
    return path_ + ":" + std::to_string(line) + ": " + rest;
  }

  testing::TempDir dir_;
  const std::string path_ = dir_.path() + "/granary.toml";
};

constexpr const char* kSource = "[[source]]\nname = \"s\"\ntype = \"synthetic\"\n";

TEST_F(ConfigTest, UnknownTopLevelKey) {
  EXPECT_EQ(LoadError("device = \"d\"\nstate_dirr = \"/x\"\n"),
            At(2, "state_dirr: unknown key (did you mean \"state_dir\"?)"));
  EXPECT_EQ(LoadError("colour = 1\n"), At(1, "colour: unknown key"));
}

TEST_F(ConfigTest, UnknownKeyInSection) {
  EXPECT_EQ(LoadError("[buffer]\nsync = \"full\"\nbatch_size = 5\n"),
            At(3, "buffer.batch_size: unknown key"));
  EXPECT_EQ(LoadError("[buffers]\nsync = \"full\"\n"),
            At(1, "buffers: unknown key (did you mean \"buffer\"?)"));
}

TEST_F(ConfigTest, UnknownKeyInSource) {
  EXPECT_EQ(LoadError(std::string(kSource) + "rat = 5\n"),
            At(4, "source[0].rat: unknown key (did you mean \"rate\"?)"));
  // Nested tables are named by index too.
  EXPECT_EQ(LoadError("[[source]]\nname = \"f\"\ntype = \"file\"\n"
                      "files = [{ name = \"a\", path = \"/a\" },\n"
                      "  { name = \"b\", path = \"/b\", scal = 2 }]\n"),
            At(5, "source[0].files[1].scal: unknown key (did you mean \"scale\"?)"));
}

TEST_F(ConfigTest, WrongType) {
  EXPECT_EQ(LoadError("[buffer]\nbatch_max = \"1000\"\n"),
            At(2, "buffer.batch_max: expected an integer, got string"));
  EXPECT_EQ(LoadError("state_dir = 7\n"), At(1, "state_dir: expected a string, got integer"));
  EXPECT_EQ(LoadError("[buffer]\nseal_on_stop = \"yes\"\n"),
            At(2, "buffer.seal_on_stop: expected a boolean (true or false), got string"));
  EXPECT_EQ(LoadError("buffer = 5\n"), At(1, "buffer: expected a table, got integer"));
  EXPECT_EQ(LoadError("[source]\nname = \"s\"\n"),
            At(1, "source: expected an array of tables ([[source]]), got table"));
}

TEST_F(ConfigTest, IntegerForDuration) {
  EXPECT_EQ(LoadError("[status]\ninterval = 30\n"),
            At(2,
               "status.interval: expected a string, got integer (durations are strings with "
               "a unit, e.g. \"10s\")"));
}

TEST_F(ConfigTest, NegativeOrZeroInterval) {
  EXPECT_EQ(LoadError(std::string(kSource) + "interval = \"-5s\"\n"),
            At(4, "source[0].interval: must not be negative (got \"-5s\")"));
  EXPECT_EQ(LoadError(std::string(kSource) + "interval = \"0s\"\n"),
            At(4, "source[0].interval: must be at least 10ms (got \"0s\")"));
  EXPECT_EQ(LoadError(std::string(kSource) + "timeout = \"0s\"\n"),
            At(4, "source[0].timeout: must be at least 1ms (got \"0s\")"));
  EXPECT_EQ(LoadError("[status]\ninterval = \"500ms\"\n"),
            At(2, "status.interval: must be at least 1s (got \"500ms\")"));
}

TEST_F(ConfigTest, TimeoutAboveInterval) {
  EXPECT_EQ(LoadError(std::string(kSource) + "interval = \"10s\"\ntimeout = \"20s\"\n"),
            At(5, "source[0].timeout: must be at most the interval, 10s (got \"20s\")"));
  // A short interval lowers the default timeout, below the interval, rather than failing.
  AgentConfig c = Load(std::string(kSource) + "interval = \"2s\"\n");
  ASSERT_EQ(c.sources.size(), 1u);
  EXPECT_EQ(c.sources[0].timeout, 1600ms);
}

TEST_F(ConfigTest, DuplicateSourceName) {
  EXPECT_EQ(
      LoadError(std::string(kSource) + "\n" + kSource),
      At(6, "source[1].name: duplicate source name \"s\" (first defined at " + path_ + ":2)"));
}

TEST_F(ConfigTest, MqttSourceDefaultsAndFormat) {
  AgentConfig c = Load(
      "[mqtt]\nhost = \"b\"\nprefix = \"fleet\"\n[[source]]\nname = \"bus\"\n"
      "type = \"mqtt\"\nurl = \"mqtt://10.0.0.2:1884\"\n"
      "[[source.topics]]\nfilter = \"robot/+/state\"\n");
  ASSERT_EQ(c.sources.size(), 1u);
  ASSERT_TRUE(c.sources[0].mqtt);
  const MqttSourceConfig& m = *c.sources[0].mqtt;
  EXPECT_EQ(m.host, "10.0.0.2");
  EXPECT_EQ(m.port, 1884);
  EXPECT_FALSE(m.tls);
  EXPECT_EQ(m.client_id, "granary-" + c.device + "-bus");
  ASSERT_EQ(m.topics.size(), 1u);
  EXPECT_EQ(m.topics[0].qos, 1);
  EXPECT_EQ(m.veto, (std::vector<std::string>{"$SYS/#", "fleet/#"}));
  EXPECT_EQ(m.session_expiry, std::chrono::seconds{86'400});
  EXPECT_EQ(m.receive_maximum, 20);
}

TEST_F(ConfigTest, MqttSourceErrorsNameTheKey) {
  const std::string msg = LoadError(
      "[[source]]\nname = \"bus\"\ntype = \"mqtt\"\nurl = \"mqtts://h\"\n"
      "veto = [\"a/#/b\"]\n[[source.topics]]\nfilter = \"x\"\nqos = 3\n");
  EXPECT_NE(msg.find("source[0].ca_file: mqtts:// needs the broker's CA"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("source[0].veto: \"a/#/b\" is not a valid MQTT topic filter"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("source[0].topics[0].qos"), std::string::npos) << msg;
  EXPECT_NE(LoadError("[[source]]\nname = \"bus\"\ntype = \"mqtt\"\nurl = \"mqtt://h\"\n"
                      "receive_maximum = 0\n[[source.topics]]\nfilter = \"x\"\n")
                .find("source[0].receive_maximum"),
            std::string::npos);
  EXPECT_NE(LoadError("[[source]]\nname = \"bus\"\ntype = \"mqtt\"\nurl = \"mqtt://h\"\n")
                .find("needs at least one [[source.topics]]"),
            std::string::npos);
}

TEST_F(ConfigTest, UnknownSourceType) {
  // Keys of an unknown type are not reported: nobody knows which are typos.
  EXPECT_EQ(LoadError("[[source]]\nname = \"m\"\ntype = \"modbus\"\nregister = 4\n"),
            At(3,
               "source[0].type: unknown source type \"modbus\" (known types: file, "
               "http_json, mqtt, synthetic)"));
}

TEST_F(ConfigTest, BadEnum) {
  EXPECT_EQ(LoadError("[buffer]\nsync = \"fast\"\n"),
            At(2, "buffer.sync: must be one of \"full\", \"normal\" (got \"fast\")"));
  EXPECT_EQ(LoadError("log_level = \"verbose\"\n"),
            At(1,
               "log_level: must be one of \"error\", \"warning\", \"notice\", \"info\", "
               "\"debug\" (got \"verbose\")"));
}

TEST_F(ConfigTest, BadSize) {
  EXPECT_EQ(LoadError("[segment]\nmax_bytes = \"12XB\"\n"),
            At(2,
               "segment.max_bytes: invalid size \"12XB\": expected a whole number with an "
               "optional unit, e.g. 4096, 64KiB, 512MiB, 2GB"));
  EXPECT_EQ(LoadError("[segment]\nmax_bytes = \"1KiB\"\n"),
            At(2, "segment.max_bytes: must be at least 4KiB (got \"1KiB\")"));
  EXPECT_EQ(LoadError("[quota]\nmax_bytes = -1\n"),
            At(2, "quota.max_bytes: must not be negative (got -1)"));
  EXPECT_EQ(Load("[segment]\nmax_bytes = 8192\n").buffer.segment_max_bytes, 8192u);
}

TEST_F(ConfigTest, MultipartKeys) {
  const std::string upload = "[upload]\nendpoint = \"http://127.0.0.1:9\"\nbucket = \"b\"\n";
  AgentConfig d = Load(upload);
  EXPECT_EQ(d.upload.part_size, 8u << 20);
  EXPECT_EQ(d.upload.multipart_max_age, std::chrono::milliseconds(7LL * 86'400'000));
  AgentConfig c = Load(upload + "part_size = \"16MiB\"\nmultipart_max_age = \"2d\"\n");
  EXPECT_EQ(c.upload.part_size, 16u << 20);
  EXPECT_EQ(c.upload.multipart_max_age, std::chrono::milliseconds(2 * 86'400'000));
  std::string rendered = RenderEffectiveConfig(c);
  EXPECT_NE(rendered.find("part_size = \"16MiB\"\n"), std::string::npos) << rendered;
  AgentConfig again = Load(rendered);
  EXPECT_EQ(again.upload.part_size, c.upload.part_size);
  EXPECT_EQ(again.upload.multipart_max_age, c.upload.multipart_max_age);
  // S3 refuses parts below 5 MiB (but the last) and above 5 GiB.
  EXPECT_EQ(LoadError(upload + "part_size = \"4MiB\"\n"),
            At(4, "upload.part_size: must be at least 5MiB (got \"4MiB\")"));
  EXPECT_EQ(LoadError(upload + "part_size = \"6GiB\"\n"),
            At(4, "upload.part_size: must be at most 5GiB (S3's part limit)"));
  EXPECT_EQ(LoadError(upload + "multipart_max_age = \"0s\"\n"),
            At(4, "upload.multipart_max_age: must be at least 1s (got \"0s\")"));
}

TEST_F(ConfigTest, OutOfRangeInteger) {
  EXPECT_EQ(LoadError("[buffer]\nbatch_max = 0\n"),
            At(2, "buffer.batch_max: must be between 1 and 100000 (got 0)"));
  EXPECT_EQ(LoadError("[buffer]\nbatch_wait = \"11s\"\n"),
            At(2, "buffer.batch_wait: must be at most 10s (got \"11s\")"));
}

TEST_F(ConfigTest, BadDeviceName) {
  const std::string rule =
      "must be 1 to 64 characters of A-Z a-z 0-9 _ . -, not starting with \".\" ";
  EXPECT_EQ(LoadError("device = \"h 017\"\n"), At(1, "device: " + rule + "(got \"h 017\")"));
  std::string long_name(65, 'a');
  EXPECT_EQ(LoadError("\ndevice = \"" + long_name + "\"\n"),
            At(2, "device: " + rule + "(got \"" + long_name + "\")"));
  EXPECT_EQ(LoadError("device = \"\"\n"), At(1, "device: " + rule + "(got \"\")"));
  EXPECT_EQ(LoadError("[[source]]\nname = \"a/b\"\ntype = \"synthetic\"\n"),
            At(2, "source[0].name: " + rule + "(got \"a/b\")"));
  // A key path normalises "." and ".." away, so the upload would sign another path.
  for (const char* dots : {".", "..", ".hidden"}) {
    EXPECT_EQ(LoadError(std::string("device = \"") + dots + "\"\n"),
              At(1, "device: " + rule + "(got \"" + dots + "\")"));
    EXPECT_EQ(LoadError(std::string("[[source]]\nname = \"") + dots + "\"\ntype = \"synthetic\"\n"),
              At(2, "source[0].name: " + rule + "(got \"" + dots + "\")"));
  }
}

TEST_F(ConfigTest, TomlSyntaxError) {
  std::string error = LoadError("device = \"x\"\n[buffer\nsync = \"full\"\n");
  EXPECT_EQ(error.rfind(path_ + ":2:", 0), 0u) << error;
  EXPECT_NE(error.find("syntax error: "), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  // A key defined twice is a TOML error too, at the second definition.
  error = LoadError("device = \"x\"\n\ndevice = \"y\"\n");
  EXPECT_EQ(error.rfind(path_ + ":3:", 0), 0u) << error;
}

TEST_F(ConfigTest, MissingFile) {
  const std::string path = dir_.path() + "/nope.toml";
  Result<AgentConfig> config = LoadConfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message(), path + ": cannot open: No such file or directory");
  EXPECT_EQ(config.error().sys_errno(), ENOENT);
}

TEST_F(ConfigTest, DirectoryIsNotAConfigFile) {
  Result<AgentConfig> config = LoadConfig(dir_.path());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message(), dir_.path() + ": cannot read: Is a directory");
  EXPECT_EQ(config.error().sys_errno(), EISDIR);
}

TEST_F(ConfigTest, UnreadableFile) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads files regardless of their mode";
  std::string path = Write("device = \"x\"\n");
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  Result<AgentConfig> config = LoadConfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message(), path + ": cannot open: Permission denied");
}

TEST_F(ConfigTest, MissingRequiredSourceKeys) {
  EXPECT_EQ(LoadError("device = \"x\"\n[[source]]\ninterval = \"1s\"\n"),
            At(2, "source[0].name: missing required key\n") +
                At(2, "source[0].type: missing required key"));
  // Required keys of the type itself, reported at the block's header.
  EXPECT_EQ(LoadError("[[source]]\nname = \"m\"\ntype = \"http_json\"\n"),
            At(1, "source[0].url: missing required key"));
  EXPECT_EQ(LoadError("[[source]]\nname = \"\"\ntype = \"synthetic\"\n"),
            At(2, "source[0].name: must not be empty"));
}

TEST_F(ConfigTest, AllErrorsReportedInLineOrder) {
  std::string error = LoadError(
      "device = \"bad name\"\n"  // 1
      "[buffer]\n"               // 2
      "sync = \"fast\"\n"        // 3
      "batch_wait = 50\n"        // 4
      "[[source]]\n"             // 5
      "name = \"a\"\n"           // 6
      "type = \"synthetic\"\n"   // 7
      "interval = \"0s\"\n"      // 8
      "rate = 0\n"               // 9
      "[[source]]\n"             // 10
      "name = \"a\"\n"           // 11
      "type = \"nope\"\n"        // 12
      "[status]\n"               // 13
      "interval = \"1x\"\n"      // 14
      "extra = true\n");         // 15
  std::vector<std::string> lines;
  for (size_t start = 0; start <= error.size();) {
    size_t nl = std::min(error.find('\n', start), error.size());
    lines.push_back(error.substr(start, nl - start));
    start = nl + 1;
  }
  ASSERT_EQ(lines.size(), 9u) << error;
  const char* expected_prefixes[] = {":1: device: ",
                                     ":3: buffer.sync: ",
                                     ":4: buffer.batch_wait: ",
                                     ":8: source[0].interval: ",
                                     ":9: source[0].rate: ",
                                     ":11: source[1].name: duplicate",
                                     ":12: source[1].type: ",
                                     ":14: status.interval: invalid duration",
                                     ":15: status.extra: unknown"};
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].rfind(path_ + expected_prefixes[i], 0), 0u) << lines[i];
  }
}

TEST_F(ConfigTest, Defaults) {
  AgentConfig c = Load("");
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(c.path, path_);
  EXPECT_EQ(c.device, host);
  EXPECT_EQ(c.state_dir, "/var/lib/granary");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_TRUE(c.buffer.sync_full);
  EXPECT_EQ(c.buffer.batch_max, 1000u);
  EXPECT_EQ(c.buffer.queue_capacity, 100'000u);
  EXPECT_EQ(c.buffer.batch_wait, 50ms);
  EXPECT_TRUE(c.seal_on_stop);
  EXPECT_EQ(c.buffer.segment_max_bytes, 64ULL << 20);
  EXPECT_EQ(c.buffer.segment_max_readings, 100'000u);
  EXPECT_EQ(c.buffer.quota_max_bytes, 1ULL << 30);
  EXPECT_FALSE(c.buffer.quota_pause);
  EXPECT_EQ(c.status_interval, 30s);
  EXPECT_TRUE(c.sources.empty());

  AgentConfig s = Load(kSource);
  ASSERT_EQ(s.sources.size(), 1u);
  EXPECT_EQ(s.sources[0].name, "s");
  EXPECT_EQ(s.sources[0].type, "synthetic");
  EXPECT_EQ(s.sources[0].interval, 10s);
  EXPECT_EQ(s.sources[0].timeout, 5s);
  ASSERT_TRUE(s.sources[0].settings);
  EXPECT_EQ(s.sources[0].settings->at_path("name").value_or(std::string()), "s");
}

constexpr const char* kFullConfig = R"(device = "h017"
state_dir = "/srv/granary state"
log_level = "debug"

[buffer]
sync = "normal"
batch_max = 500
queue_capacity = 2000
batch_wait = "1s250ms"
seal_on_stop = false

[segment]
max_bytes = 5000
max_readings = 42

[quota]
max_bytes = "2GiB"
when_full = "pause"

[status]
interval = "1m30s"

[[source]]
name = "gen"
type = "synthetic"
interval = "250ms"
rate = 7

[[source]]
name = "meter.1"
type = "http_json"
interval = "1h"
timeout = "30s"
url = "http://127.0.0.1:8080/a?b=\"c\""
password = "hunter2"
headers = ["X-A: b", "X-Ünï: 1"]
fields = { zeta = "/z", alpha = "/a" }

[[source]]
name = "temps"
type = "file"
files = [{ name = "cpu", path = "/sys/x", scale = 0.001 }, { name = "fan", path = "/sys/y" }]
)";

void ExpectSameConfig(const AgentConfig& a, const AgentConfig& b) {
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(a.state_dir, b.state_dir);
  EXPECT_EQ(a.log_level, b.log_level);
  EXPECT_EQ(a.buffer.sync_full, b.buffer.sync_full);
  EXPECT_EQ(a.buffer.batch_max, b.buffer.batch_max);
  EXPECT_EQ(a.buffer.queue_capacity, b.buffer.queue_capacity);
  EXPECT_EQ(a.buffer.batch_wait, b.buffer.batch_wait);
  EXPECT_EQ(a.seal_on_stop, b.seal_on_stop);
  EXPECT_EQ(a.buffer.segment_max_bytes, b.buffer.segment_max_bytes);
  EXPECT_EQ(a.buffer.segment_max_readings, b.buffer.segment_max_readings);
  EXPECT_EQ(a.buffer.quota_max_bytes, b.buffer.quota_max_bytes);
  EXPECT_EQ(a.buffer.quota_pause, b.buffer.quota_pause);
  EXPECT_EQ(a.status_interval, b.status_interval);
  ASSERT_EQ(a.sources.size(), b.sources.size());
  for (size_t i = 0; i < a.sources.size(); ++i) {
    EXPECT_EQ(a.sources[i].name, b.sources[i].name);
    EXPECT_EQ(a.sources[i].type, b.sources[i].type);
    EXPECT_EQ(a.sources[i].interval, b.sources[i].interval);
    EXPECT_EQ(a.sources[i].timeout, b.sources[i].timeout);
  }
}

TEST_F(ConfigTest, RenderRoundTrips) {
  AgentConfig original = Load(kFullConfig);
  EXPECT_EQ(original.buffer.batch_wait, 1250ms);
  EXPECT_TRUE(original.buffer.quota_pause);
  std::string rendered = RenderEffectiveConfig(original);
  AgentConfig reloaded = Load(rendered);
  ExpectSameConfig(original, reloaded);
  // Type-specific keys survive too, the secret excepted.
  ASSERT_EQ(reloaded.sources.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    toml::table want = *original.sources[i].settings;
    toml::table got = *reloaded.sources[i].settings;
    if (want.contains("password")) {
      EXPECT_EQ(got["password"].value_or(std::string()), "***");
      want.erase("password");
      got.erase("password");
    }
    // Rendering adds defaults, so compare the keys the original set; defaults are filled in
    // inside each entry of files = [...] too, so that is checked below instead.
    for (auto&& [key, value] : want) {
      if (key == "files") continue;
      std::ostringstream want_text, got_text;
      want_text << toml::node_view<const toml::node>{&value};
      got_text << got[key.str()];
      EXPECT_EQ(got_text.str(), want_text.str()) << key << "\n" << rendered;
    }
  }
  EXPECT_EQ(reloaded.sources[1].settings->at_path("fields.alpha").value_or(std::string()), "/a");
  EXPECT_EQ(reloaded.sources[2].settings->at_path("files[0].scale").value_or(0.0), 0.001);
  // A rendering of a rendering is the same text, but for the file it came from.
  std::string again = RenderEffectiveConfig(reloaded);
  EXPECT_EQ(again.substr(again.find('\n')), rendered.substr(rendered.find('\n')));
}

TEST_F(ConfigTest, RenderShowsEveryKeyAndMasksSecrets) {
  std::string rendered = RenderEffectiveConfig(Load(kFullConfig));
  EXPECT_EQ(rendered.find("hunter2"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("password = \"***\"  # secret, not shown: put the value back\n"),
            std::string::npos)
      << rendered;
  // An unset secret is printed as it is: "***" there would not be the same config.
  std::string unset = RenderEffectiveConfig(
      Load("[[source]]\nname = \"m\"\ntype = \"http_json\"\nurl = \"http://127.0.0.1/\"\n"));
  EXPECT_NE(unset.find("\npassword = \"\"\n"), std::string::npos) << unset;
  EXPECT_EQ(unset.find("***\"\n"), std::string::npos) << unset;
  for (const char* line :
       {"\ndevice = \"h017\"\n", "state_dir = \"/srv/granary state\"\n",
        "batch_wait = \"1s250ms\"\n", "seal_on_stop = false\n",
        "[segment]\nmax_bytes = \"5000B\"\n", "when_full = \"pause\"\n", "interval = \"1m30s\"\n",
        "name = \"gen\"\ntype = \"synthetic\"\ninterval = \"250ms\"\n"
        "timeout = \"200ms\"\nrate = 7\npayload_bytes = \"100B\"\n",
        "fields = { zeta = \"/z\", alpha = \"/a\" }\n", "tls_verify = true\n",
        "files = [{ name = \"cpu\", path = \"/sys/x\", scale = 0.001 }, "
        "{ name = \"fan\", path = \"/sys/y\", scale = 1 }]\n"}) {
    EXPECT_NE(rendered.find(line), std::string::npos) << line << "\n---\n" << rendered;
  }
  // Defaults are spelled out.
  std::string defaults = RenderEffectiveConfig(Load(""));
  for (const char* line :
       {"state_dir = \"/var/lib/granary\"\n", "log_level = \"info\"\n", "sync = \"full\"\n",
        "batch_max = 1000\n", "queue_capacity = 100000\n", "batch_wait = \"50ms\"\n",
        "seal_on_stop = true\n", "max_bytes = \"64MiB\"\n", "max_readings = 100000\n",
        "max_bytes = \"1GiB\"\n", "when_full = \"drop_oldest\"\n", "interval = \"30s\"\n"}) {
    EXPECT_NE(defaults.find(line), std::string::npos) << line << "\n---\n" << defaults;
  }
  EXPECT_EQ(defaults.find("[[source]]"), std::string::npos);
}

// The daemon keeps its sources' tables as text once they are built; a reload that falls
// back rebuilds them from it, so the text must parse to the very same tables.
TEST_F(ConfigTest, CompactedSourcesParseBackToTheSameTables) {
  AgentConfig loaded = Load(
      "[[source]]\nname = \"h\"\ntype = \"http_json\"\ninterval = \"2s\"\n"
      "url = \"http://127.0.0.1:8080/a?b=\\\"c\\\"&d=\u00e9\"\npassword = \"p#w'd\"\n"
      "headers = [\"X-A: 1\", \"X-B: two words\"]\ntls_verify = false\n"
      "[source.fields]\nkw = \"demand_kw\"\n\"odd key\" = \"x.y\"\n"
      "[[source]]\nname = \"f\"\ntype = \"file\"\n"
      "[[source.files]]\nname = \"t\"\npath = \"/sys/t\"\nscale = 0.001\n"
      "[[source.files]]\nname = \"u\"\npath = \"/sys/u\"\nscale = -12.5e3\n"
      "[[source]]\nname = \"s\"\ntype = \"synthetic\"\nrate = 7\npayload_bytes = 4096\n");
  ASSERT_EQ(loaded.sources.size(), 3u);
  AgentConfig compacted = loaded;
  CompactSources(compacted);
  for (size_t i = 0; i < loaded.sources.size(); ++i) {
    const SourceConfig& s = compacted.sources[i];
    EXPECT_EQ(s.settings, nullptr) << s.name;
    EXPECT_FALSE(s.settings_text.empty()) << s.name;
    Result<std::shared_ptr<const toml::table>> back = SourceSettings(s);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(**back, *loaded.sources[i].settings) << s.name << ":\n" << s.settings_text;
  }
  // A loaded config reads its tables as they are.
  Result<std::shared_ptr<const toml::table>> same = SourceSettings(loaded.sources[0]);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->get(), loaded.sources[0].settings.get());
}

TEST_F(ConfigTest, KeptSourceTextThatDoesNotParseIsAnErrorNamingTheSource) {
  SourceConfig s;
  s.name = "broken";
  s.settings_text = "url = \"unterminated\n";
  Result<std::shared_ptr<const toml::table>> r = SourceSettings(s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("source broken: its kept settings do not parse"),
            std::string::npos)
      << r.error().message();
}

}  // namespace
}  // namespace granary
