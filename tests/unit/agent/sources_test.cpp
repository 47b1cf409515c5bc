// The built-in source types: synthetic, file, http_json (against tests/sim/http_server.py on a
// loopback port), the JSON pointer helper and the registry.
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>

#include "agent/sources/json_pointer.h"
#include "agent/sources/json_text.h"
#include "agent/sources/source.h"
#include "platform/handles.h"
#include "tests/support/build_source.h"
#include "tests/support/peer_process.h"
#include "tests/support/test_util.h"

extern char** environ;

namespace granary {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

class CurlEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { curl_global_init(CURL_GLOBAL_DEFAULT); }
  void TearDown() override { curl_global_cleanup(); }
};
[[maybe_unused]] ::testing::Environment* const kCurlEnvironment =
    ::testing::AddGlobalTestEnvironment(new CurlEnvironment);

using granary::testing::Build;
using granary::testing::Built;

CjsonPtr ParseJson(const std::string& text) { return CjsonPtr(cJSON_Parse(text.c_str())); }

double NumberAt(const std::string& json, const char* key) {
  CjsonPtr root = ParseJson(json);
  const cJSON* item = cJSON_GetObjectItemCaseSensitive(root.get(), key);
  EXPECT_TRUE(cJSON_IsNumber(item)) << key << " in " << json;
  return cJSON_IsNumber(item) ? item->valuedouble : 0;
}

// ---- registry ----

TEST(SourceRegistryTest, FindsEveryBuiltInTypeAndNothingElse) {
  std::set<std::string_view> names;
  for (const SourceType& t : SourceTypes()) {
    EXPECT_NE(t.create, nullptr) << t.name;
    names.insert(t.name);
  }
  EXPECT_EQ(names, (std::set<std::string_view>{"synthetic", "http_json", "file", "eagle",
                                               "prometheus", "exec", "system"}));
  for (std::string_view name : names) {
    ASSERT_NE(FindSourceType(name), nullptr);
    EXPECT_EQ(FindSourceType(name)->name, name);
  }
  EXPECT_EQ(FindSourceType("nosuch"), nullptr);
  EXPECT_EQ(FindSourceType(""), nullptr);
}

// ---- synthetic ----

size_t SyntheticCount(const std::string& keys) {
  Built b = Build("type = \"synthetic\"\n" + keys);
  EXPECT_TRUE(b.errors.empty()) << b.AllErrors();
  if (!b.source) return 0;
  auto polled = b.source->Poll(milliseconds(1000));
  EXPECT_TRUE(polled.ok());
  return polled.ok() ? polled->size() : 0;
}

TEST(SyntheticSourceTest, EachPollYieldsRateTimesInterval) {
  EXPECT_EQ(SyntheticCount("rate = 20\ninterval = \"500ms\""), 10u);
  EXPECT_EQ(SyntheticCount("rate = 4000\ninterval = \"100ms\""), 400u);
  EXPECT_EQ(SyntheticCount(""), 10u);                               // 1/s × default 10 s
  EXPECT_EQ(SyntheticCount("rate = 1\ninterval = \"100ms\""), 1u);  // at least one
  EXPECT_EQ(SyntheticCount("rate = 3\ninterval = \"1m\""), 180u);
}

TEST(SyntheticSourceTest, ReadingsAreSizedValidJsonWithAGrowingCounter) {
  for (int payload : {40, 100, 150, 1000, 5000}) {
    Built b = Build("type = \"synthetic\"\nrate = 5\ninterval = \"1s\"\npayload_bytes = " +
                    std::to_string(payload));
    ASSERT_TRUE(b.source) << b.AllErrors();
    int64_t expected_n = 0;
    for (int poll = 0; poll < 3; ++poll) {
      auto polled = b.source->Poll(milliseconds(1000));
      ASSERT_TRUE(polled.ok());
      ASSERT_EQ(polled->size(), 5u);
      for (const SourceReading& r : *polled) {
        EXPECT_EQ(r.ts_ms, 0);
        EXPECT_EQ(r.data_json.size(), static_cast<size_t>(payload)) << r.data_json;
        CjsonPtr root = ParseJson(r.data_json);
        ASSERT_TRUE(cJSON_IsObject(root.get())) << r.data_json;
        EXPECT_EQ(NumberAt(r.data_json, "n"), static_cast<double>(expected_n++));
        EXPECT_TRUE(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root.get(), "v")));
        EXPECT_TRUE(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root.get(), "pad")));
      }
    }
  }
}

TEST(SyntheticSourceTest, TinyPayloadStillValidJson) {
  Built b = Build("type = \"synthetic\"\npayload_bytes = 5");
  ASSERT_TRUE(b.source) << b.AllErrors();
  auto polled = b.source->Poll(milliseconds(1000));
  ASSERT_TRUE(polled.ok());
  EXPECT_TRUE(cJSON_IsObject(ParseJson(polled->front().data_json).get()));
}

TEST(SyntheticSourceTest, RejectsBadRatesAndSizes) {
  EXPECT_FALSE(Build("type = \"synthetic\"\nrate = 0").errors.empty());
  EXPECT_FALSE(Build("type = \"synthetic\"\nrate = 2000000").errors.empty());
  EXPECT_FALSE(Build("type = \"synthetic\"\nrate = 1000000\ninterval = \"1m\"").errors.empty());
  EXPECT_FALSE(Build("type = \"synthetic\"\npayload_bytes = \"2MiB\"").errors.empty());
  EXPECT_FALSE(Build("type = \"synthetic\"\nrate = 100000\ninterval = \"10s\"\n"
                     "payload_bytes = \"1KiB\"")
                   .errors.empty());
}

// ---- file ----

class FileSourceTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  // One file named "v" holding `content`; the poll's data or its error.
  Result<std::string> PollOne(const std::string& content, const std::string& scale = "") {
    std::string path = Write("value", content);
    Built b = Build("type = \"file\"\nfiles = [ { name = \"v\", path = \"" + path + "\"" +
                    (scale.empty() ? "" : ", scale = " + scale) + " } ]");
    EXPECT_TRUE(b.source) << b.AllErrors();
    if (!b.source) return Error("not built");
    auto polled = b.source->Poll(milliseconds(1000));
    if (!polled) return polled.error();
    EXPECT_EQ(polled->size(), 1u);
    EXPECT_EQ(polled->front().ts_ms, 0);
    return polled->front().data_json;
  }

  testing::TempDir dir_;
};

TEST_F(FileSourceTest, ReadsIntegersDecimalsAndScales) {
  EXPECT_EQ(PollOne("42000\n").value(), "{\"v\":42000}");
  EXPECT_EQ(PollOne("-17").value(), "{\"v\":-17}");
  EXPECT_EQ(PollOne("3.25\n").value(), "{\"v\":3.25}");
  EXPECT_EQ(PollOne("42500\n", "0.001").value(), "{\"v\":42.5}");
  EXPECT_EQ(PollOne("3\n", "0.1").value(), "{\"v\":0.3}");  // not 0.30000000000000004
  EXPECT_EQ(PollOne("7\n", "2.5").value(), "{\"v\":17.5}");
  EXPECT_EQ(PollOne("12345678901234567\n").value(), "{\"v\":12345678901234567}");  // > 2^53
}

TEST_F(FileSourceTest, TrimsWhitespace) {
  EXPECT_EQ(PollOne("  17 \n\t").value(), "{\"v\":17}");
  EXPECT_EQ(PollOne("\n1.5\r\n").value(), "{\"v\":1.5}");
}

TEST_F(FileSourceTest, GarbageFailsThePollNamingThePath) {
  for (const char* bad : {"12abc\n", "", "  \n", "abc", "1.2.3", "inf", "nan", "0x10", "1 2"}) {
    auto r = PollOne(bad);
    ASSERT_FALSE(r.ok()) << "accepted \"" << bad << "\"";
    EXPECT_NE(r.error().message().find(dir_.path() + "/value"), std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find("not a number"), std::string::npos);
  }
  auto r = PollOne("12abc\n");
  EXPECT_NE(r.error().message().find("\"12abc\\n\""), std::string::npos) << r.error().message();
}

TEST_F(FileSourceTest, QuotesAtMost64Bytes) {
  auto r = PollOne(std::string(100, 'z'));
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message();
  EXPECT_NE(m.find("\"" + std::string(64, 'z') + "\""), std::string::npos) << m;
  EXPECT_EQ(m.find(std::string(65, 'z')), std::string::npos) << m;
}

TEST_F(FileSourceTest, ReadsAtMost4KiB) {
  // 5000 digits: only the first 4096 are read, which overflow a double: an error, not a hang
  // or an unbounded read.
  EXPECT_FALSE(PollOne(std::string(5000, '9')).ok());
}

TEST_F(FileSourceTest, MissingFileFailsThePollNamingThePath) {
  std::string path = dir_.path() + "/absent";
  Built b = Build("type = \"file\"\nfiles = [ { name = \"t\", path = \"" + path + "\" } ]");
  ASSERT_TRUE(b.source) << b.AllErrors();
  auto polled = b.source->Poll(milliseconds(1000));
  ASSERT_FALSE(polled.ok());
  EXPECT_NE(polled.error().message().find(path), std::string::npos);
  EXPECT_NE(polled.error().message().find("No such file"), std::string::npos);
}

TEST_F(FileSourceTest, SeveralFilesInOneReading) {
  std::string a = Write("a", "42500\n");
  std::string b_path = Write("b", "7\n");
  Built b = Build("type = \"file\"\nfiles = [ { name = \"cpu_c\", path = \"" + a +
                  "\", scale = 0.001 }, { name = \"fan\", path = \"" + b_path + "\" } ]");
  ASSERT_TRUE(b.source) << b.AllErrors();
  auto polled = b.source->Poll(milliseconds(1000));
  ASSERT_TRUE(polled.ok()) << polled.error().message();
  EXPECT_EQ(polled->front().data_json, "{\"cpu_c\":42.5,\"fan\":7}");
}

TEST_F(FileSourceTest, ConfigErrors) {
  EXPECT_FALSE(Build("type = \"file\"").errors.empty());
  EXPECT_FALSE(Build("type = \"file\"\nfiles = []").errors.empty());
  EXPECT_FALSE(Build("type = \"file\"\nfiles = [ { path = \"/x\" } ]").errors.empty());
  EXPECT_FALSE(Build("type = \"file\"\nfiles = [ { name = \"t\" } ]").errors.empty());
  EXPECT_FALSE(
      Build("type = \"file\"\nfiles = [ { name = \"a-b\", path = \"/x\" } ]").errors.empty());
  EXPECT_FALSE(Build("type = \"file\"\nfiles = [ { name = \"a\", path = \"/x\", scale = 0 } ]")
                   .errors.empty());
  EXPECT_FALSE(Build("type = \"file\"\nfiles = [ { name = \"a\", path = \"/x\" }, "
                     "{ name = \"a\", path = \"/y\" } ]")
                   .errors.empty());
  Built ok = Build("type = \"file\"\nfiles = [ { name = \"a_1\", path = \"/x\", scale = 2 } ]");
  EXPECT_TRUE(ok.errors.empty()) << ok.AllErrors();
  EXPECT_TRUE(ok.source);
}

// ---- JSON pointer ----

class JsonPointerTest : public ::testing::Test {
 protected:
  // RFC 6901 section 5.
  JsonPointerTest()
      : doc_(cJSON_Parse(R"({"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3,
                            "g|h": 4, "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8,
                            "~1": 9})")) {}

  std::string Find(std::string_view pointer) {
    auto p = JsonPointer::Parse(pointer);
    EXPECT_TRUE(p.ok()) << pointer;
    if (!p) return "(bad pointer)";
    const cJSON* node = p->Find(doc_.get());
    if (node == nullptr) return "(absent)";
    CjsonString text(cJSON_PrintUnformatted(node));
    return text.get();
  }

  CjsonPtr doc_;
};

TEST_F(JsonPointerTest, Rfc6901Examples) {
  ASSERT_TRUE(doc_);
  EXPECT_EQ(Find(""), std::string(CjsonString(cJSON_PrintUnformatted(doc_.get())).get()));
  EXPECT_EQ(Find("/foo"), "[\"bar\",\"baz\"]");
  EXPECT_EQ(Find("/foo/0"), "\"bar\"");
  EXPECT_EQ(Find("/"), "0");
  EXPECT_EQ(Find("/a~1b"), "1");
  EXPECT_EQ(Find("/c%d"), "2");
  EXPECT_EQ(Find("/e^f"), "3");
  EXPECT_EQ(Find("/g|h"), "4");
  EXPECT_EQ(Find("/i\\j"), "5");
  EXPECT_EQ(Find("/k\"l"), "6");
  EXPECT_EQ(Find("/ "), "7");
  EXPECT_EQ(Find("/m~0n"), "8");
  EXPECT_EQ(Find("/~01"), "9");  // "~01" unescapes to "~1", not to "/"
}

TEST_F(JsonPointerTest, AbsentTargets) {
  for (const char* p : {"/nope", "/foo/2", "/foo/-", "/foo/01", "/foo/x", "/foo/0/x", "/a~1b/c",
                        "/FOO", "/foo/-1", "/foo/99999999999999999999999"}) {
    EXPECT_EQ(Find(p), "(absent)") << p;
  }
}

TEST_F(JsonPointerTest, MalformedPointers) {
  for (const char* p : {"foo", "/a~2", "/a~", "#/foo"}) {
    EXPECT_FALSE(JsonPointer::Parse(p).ok()) << p;
  }
  auto p = JsonPointer::Parse("/a~1b/~0/0");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->tokens(), (std::vector<std::string>{"a/b", "~", "0"}));
  EXPECT_EQ(p->text(), "/a~1b/~0/0");
}

// ---- http_json ----

// tests/sim/http_server.py on a random loopback port, for the whole suite.
class HttpJsonSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string script = std::string(GRANARY_SOURCE_DIR) + "/tests/sim/http_server.py";
    server_ = testing::StartPeer({"/usr/bin/python3", script});
    ASSERT_GT(server_.pid, 0) << "spawn " << script;
    port_ = std::atoi(server_.first_line.c_str());
    ASSERT_GT(port_, 0) << "no port from " << script << ": \"" << server_.first_line << "\"";
  }

  static void TearDownTestSuite() { testing::StopPeer(server_); }

  static std::string Url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  // A source for `path` plus extra keys; fails the test on config errors.
  static std::unique_ptr<Source> Make(const std::string& path, const std::string& keys = "") {
    Built b = Build("type = \"http_json\"\nurl = \"" + Url(path) + "\"\n" + keys);
    EXPECT_TRUE(b.errors.empty()) << b.AllErrors();
    return std::move(b.source);
  }

  // One poll's data, or its error message prefixed "ERROR: ".
  static std::string PollData(Source& source, milliseconds timeout = milliseconds(5000)) {
    auto polled = source.Poll(timeout);
    if (!polled) return "ERROR: " + polled.error().message();
    EXPECT_EQ(polled->size(), 1u);
    EXPECT_EQ(polled->front().ts_ms, 0);
    return polled->front().data_json;
  }

  // Polls `path` expecting failure; returns the message, checked to name the URL.
  static std::string PollError(const std::string& path, const std::string& keys = "",
                               milliseconds timeout = milliseconds(5000)) {
    auto source = Make(path, keys);
    if (!source) return "(not built)";
    auto polled = source->Poll(timeout);
    EXPECT_FALSE(polled.ok()) << path << " gave " << polled->front().data_json;
    if (polled) return "(succeeded)";
    std::string m = polled.error().message();
    EXPECT_NE(m.find(Url(path)), std::string::npos) << "URL missing from: " << m;
    EXPECT_LT(m.size(), 1000u) << m;
    return m;
  }

  static double SecondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  static testing::Peer server_;
  static int port_;
};
testing::Peer HttpJsonSourceTest::server_;
int HttpJsonSourceTest::port_ = 0;

constexpr const char* kNestedCompact =
    R"({"data":{"power":1500,"phases":[{"v":230.1},{"v":231.2},{"v":229.8}]},"a/b":1,"m~n":2,)"
    R"("":3,"name":"meter-1","flags":{"ok":true,"err":null}})";

TEST_F(HttpJsonSourceTest, WholeBodyAsCompactJson) {
  auto source = Make("/nested");
  ASSERT_TRUE(source);
  EXPECT_EQ(PollData(*source), kNestedCompact);
  // The handle is reused across polls.
  EXPECT_EQ(PollData(*source), kNestedCompact);
}

TEST_F(HttpJsonSourceTest, SelectedFields) {
  auto source = Make("/nested",
                     "fields = { power = \"/data/power\", v2 = \"/data/phases/1/v\", "
                     "ab = \"/a~1b\", name = \"/name\", flags = \"/flags\" }");
  ASSERT_TRUE(source);
  std::string data = PollData(*source);
  CjsonPtr root = ParseJson(data);
  ASSERT_TRUE(cJSON_IsObject(root.get())) << data;
  EXPECT_EQ(cJSON_GetArraySize(root.get()), 5) << data;
  EXPECT_EQ(NumberAt(data, "power"), 1500);
  EXPECT_EQ(NumberAt(data, "v2"), 231.2);
  EXPECT_EQ(NumberAt(data, "ab"), 1);
  EXPECT_STREQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root.get(), "name")),
               "meter-1");
  EXPECT_NE(data.find(R"("flags":{"ok":true,"err":null})"), std::string::npos) << data;
}

TEST_F(HttpJsonSourceTest, MissingFieldNamesFieldAndPointer) {
  std::string m = PollError("/nested",
                            "fields = { power = \"/data/power\", "
                            "volts = \"/data/phases/7/v\" }");
  EXPECT_NE(m.find("volts"), std::string::npos) << m;
  EXPECT_NE(m.find("/data/phases/7/v"), std::string::npos) << m;
}

TEST_F(HttpJsonSourceTest, ErrorStatusQuotesBody) {
  std::string m = PollError("/status/503");
  EXPECT_NE(m.find("HTTP 503 from " + Url("/status/503")), std::string::npos) << m;
  EXPECT_NE(m.find("status 503 from the simulator\\n"), std::string::npos) << m;
}

TEST_F(HttpJsonSourceTest, HtmlPageIsNotJson) {
  std::string m = PollError("/html");
  EXPECT_NE(m.find("not JSON"), std::string::npos) << m;
  EXPECT_NE(m.find("<html><head><title>Error</title></head>\\n<body>"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << "raw newline in: " << m;
}

TEST_F(HttpJsonSourceTest, NotJsonAndNotAnObject) {
  std::string m = PollError("/notjson");
  EXPECT_NE(m.find("not JSON: \"this is not json {\""), std::string::npos) << m;
  m = PollError("/array");
  EXPECT_NE(m.find("not a JSON object: \"[1,2,3]\""), std::string::npos) << m;
}

// No silent change of data: what cJSON would alter is kept as sent, or the poll fails.
TEST_F(HttpJsonSourceTest, ABodyIsKeptAsSentOrThePollFails) {
  auto source = Make("/nul");
  ASSERT_TRUE(source);
  EXPECT_EQ(PollData(*source), R"({"s":"a\u0000b","t":"a\\u0000b","v":1.50})");
  std::string m = PollError("/nul", "fields = { v = \"/v\" }");
  EXPECT_NE(m.find("\\u0000"), std::string::npos) << m;
  m = PollError("/badutf8");
  EXPECT_NE(m.find("not UTF-8 at byte 13 (0xff)"), std::string::npos) << m;
  m = PollError("/bignum");
  EXPECT_NE(m.find("a number out of range"), std::string::npos) << m;
}

TEST(JsonTextTest, AKeyTwiceInOneObjectIsRefused) {
  CjsonPtr twice(cJSON_Parse(R"({"device":"h017","x":{"v":1},"device":"h018"})"));
  Status s = CheckValues(twice.get());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("the key \"device\" twice"), std::string::npos);
  CjsonPtr nested(cJSON_Parse(R"({"a":{"v":1,"v":2}})"));
  EXPECT_FALSE(CheckValues(nested.get()).ok());
  CjsonPtr fine(cJSON_Parse(R"({"a":{"v":1},"b":{"v":2},"c":[{"v":1},{"v":1}]})"));
  EXPECT_TRUE(CheckValues(fine.get()).ok());
}

TEST(JsonTextTest, CompactingKeepsBytesButNotARawControlByteInAString) {
  auto compact = CompactJson(" {\"a\" :\t\"x \\n y\",\x1e\"b\": 1.50e0 }\n");
  ASSERT_TRUE(compact.ok());
  EXPECT_EQ(*compact, R"({"a":"x \n y","b":1.50e0})");
  auto raw = CompactJson("{\"a\": \"x\ny\"}");
  ASSERT_FALSE(raw.ok()) << "a raw newline would split the JSON Lines line";
  EXPECT_NE(raw.error().message().find("raw control byte (0x0a) inside a string at byte 8"),
            std::string::npos)
      << raw.error().message();
}

TEST_F(HttpJsonSourceTest, HugeBodyFailsFast) {
  for (const char* path : {"/huge", "/huge?chunked=1"}) {
    auto start = Clock::now();
    std::string m = PollError(path);
    EXPECT_NE(m.find("max_body"), std::string::npos) << m;
    EXPECT_LT(SecondsSince(start), 2.0) << path;
  }
  // A body under a raised cap goes through.
  auto source = Make("/huge", "max_body = \"6MiB\"");
  ASSERT_TRUE(source);
  EXPECT_EQ(PollData(*source).size(), 5u * 1024 * 1024);
}

TEST_F(HttpJsonSourceTest, EndlessBodyEndsAtTheTimeout) {
  auto start = Clock::now();
  std::string m = PollError("/endless", "", milliseconds(1000));
  EXPECT_NE(m.find("timed out"), std::string::npos) << m;
  EXPECT_LT(SecondsSince(start), 2.0);
}

TEST_F(HttpJsonSourceTest, FastEndlessBodyEndsAtMaxBody) {
  auto start = Clock::now();
  std::string m = PollError("/endless?interval_ms=1&chunk=65536", "max_body = \"256KiB\"",
                            milliseconds(10'000));
  EXPECT_NE(m.find("max_body"), std::string::npos) << m;
  EXPECT_LT(SecondsSince(start), 5.0);
}

TEST_F(HttpJsonSourceTest, SlowServerTimesOut) {
  auto start = Clock::now();
  std::string m = PollError("/slow?ms=5000", "", milliseconds(500));
  EXPECT_NE(m.find("timed out"), std::string::npos) << m;
  EXPECT_LT(SecondsSince(start), 1.5);

  auto source = Make("/slow?ms=100");
  ASSERT_TRUE(source);
  EXPECT_EQ(PollData(*source, milliseconds(3000)).rfind("{\"power\":", 0), 0u);
}

TEST_F(HttpJsonSourceTest, BasicAuth) {
  auto source = Make("/auth", "username = \"u\"\npassword = \"p\"");
  ASSERT_TRUE(source);
  EXPECT_EQ(PollData(*source), R"({"auth":"ok"})");

  std::string m = PollError("/auth", "username = \"u\"\npassword = \"hunter2-wrong\"");
  EXPECT_NE(m.find("HTTP 401"), std::string::npos) << m;
  EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
  EXPECT_NE(PollError("/auth").find("HTTP 401"), std::string::npos);
}

TEST_F(HttpJsonSourceTest, PasswordInUrlIsRejectedAndMasked) {
  Built b =
      Build("type = \"http_json\"\nurl = \"http://u:hunter2@127.0.0.1:" + std::to_string(port_) +
            "/json\"");
  EXPECT_FALSE(b.source);
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_EQ(b.errors[0].find("hunter2"), std::string::npos) << b.errors[0];
  EXPECT_NE(b.errors[0].find("http://u:***@127.0.0.1"), std::string::npos) << b.errors[0];
  // A user name alone is no secret.
  Built user_only =
      Build("type = \"http_json\"\nurl = \"http://u@127.0.0.1:" + std::to_string(port_) +
            "/auth\"\npassword = \"p\"\nusername = \"u\"");
  EXPECT_TRUE(user_only.errors.empty()) << user_only.AllErrors();
}

TEST_F(HttpJsonSourceTest, RedirectIsNotFollowed) {
  std::string m = PollError("/redirect");
  EXPECT_NE(m.find("HTTP 302"), std::string::npos) << m;
  EXPECT_NE(m.find("redirects are not followed"), std::string::npos) << m;
}

TEST_F(HttpJsonSourceTest, SendsConfiguredHeaders) {
  auto source = Make("/echo-headers", "headers = [\"X-Granary-Test: 42\", \"Accept: text/json\"]");
  ASSERT_TRUE(source);
  std::string data = PollData(*source);
  EXPECT_NE(data.find(R"("X-Granary-Test":"42")"), std::string::npos) << data;
  EXPECT_NE(data.find(R"("Accept":"text/json")"), std::string::npos) << data;
}

TEST_F(HttpJsonSourceTest, ReusesTheConnection) {
  auto source = Make("/peer");
  ASSERT_TRUE(source);
  std::string first = PollData(*source);
  EXPECT_EQ(first.rfind("{\"port\":", 0), 0u) << first;
  EXPECT_EQ(PollData(*source), first);
}

TEST_F(HttpJsonSourceTest, ConnectionRefusedNamesTheUrl) {
  // Port 1 (tcpmux) has no listener on any machine this runs on.
  Built b = Build("type = \"http_json\"\nurl = \"http://127.0.0.1:1/x\"");
  ASSERT_TRUE(b.source) << b.AllErrors();
  auto start = Clock::now();
  auto polled = b.source->Poll(milliseconds(2000));
  ASSERT_FALSE(polled.ok());
  EXPECT_NE(polled.error().message().find("http://127.0.0.1:1/x"), std::string::npos)
      << polled.error().message();
  EXPECT_LT(SecondsSince(start), 3.0);
}

TEST_F(HttpJsonSourceTest, ConfigErrors) {
  EXPECT_FALSE(Build("type = \"http_json\"").errors.empty());
  EXPECT_FALSE(Build("type = \"http_json\"\nurl = \"ftp://x/y\"").errors.empty());
  EXPECT_FALSE(Build("type = \"http_json\"\nurl = \"file:///etc/passwd\"").errors.empty());
  EXPECT_FALSE(Build("type = \"http_json\"\nurl = \"http://\"").errors.empty());
  std::string base = "type = \"http_json\"\nurl = \"http://127.0.0.1/\"\n";
  EXPECT_FALSE(Build(base + "fields = { a = \"no-slash\" }").errors.empty());
  EXPECT_FALSE(Build(base + "fields = { a = \"/x~2\" }").errors.empty());
  EXPECT_FALSE(Build(base + "fields = {}").errors.empty());
  EXPECT_FALSE(Build(base + "headers = [\"no colon\"]").errors.empty());
  EXPECT_FALSE(Build(base + "password = \"p\"").errors.empty());
  EXPECT_FALSE(Build(base + "ca_file = \"/nonexistent/ca.pem\"").errors.empty());
  EXPECT_FALSE(Build(base + "max_body = 1").errors.empty());
  Built secret = Build("type = \"http_json\"\nurl = \"ftp://u:hunter2@x/\"");
  EXPECT_FALSE(secret.errors.empty());
  for (const std::string& e : secret.errors) EXPECT_EQ(e.find("hunter2"), std::string::npos) << e;
  Built ok = Build(base +
                   "fields = { p = \"/a/0\" }\nmax_body = \"64KiB\"\ntls_verify = false\n"
                   "headers = [\"X-A: b\"]\nusername = \"u\"\npassword = \"p\"");
  EXPECT_TRUE(ok.errors.empty()) << ok.AllErrors();
  EXPECT_TRUE(ok.source);
}

}  // namespace
}  // namespace granary
