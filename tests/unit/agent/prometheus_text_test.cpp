// The Prometheus text exposition parser: the format's own example page, escapes, special
// values, filters, and malformed lines reported by number. Then the prometheus source against
// Python's http.server on a loopback port, serving pages from a temp dir.
#include "agent/sources/prometheus_text.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "tests/support/build_source.h"
#include "tests/support/peer_process.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

// The example of the exposition format documentation, lightly trimmed.
constexpr const char* kPage = R"(# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
)";

std::vector<PrometheusSample> Parse(std::string_view text) {
  Result<std::vector<PrometheusSample>> r = ParsePrometheusText(text, 1000);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r ? *r : std::vector<PrometheusSample>{};
}

TEST(PrometheusTextTest, FormatExample) {
  std::vector<PrometheusSample> s = Parse(kPage);
  ASSERT_EQ(s.size(), 9u);
  EXPECT_EQ(s[0].name, "http_requests_total");
  EXPECT_EQ(s[0].labels, (std::vector<std::pair<std::string, std::string>>{{"method", "post"},
                                                                           {"code", "200"}}));
  EXPECT_EQ(s[0].value, 1027);
  EXPECT_EQ(s[0].timestamp_ms, 1395066363000);
  EXPECT_EQ(s[1].value, 3);
  EXPECT_EQ(s[2].labels[0].second, "C:\\DIR\\FILE.TXT");
  EXPECT_EQ(s[2].labels[1].second, "Cannot find file:\n\"FILE.TXT\"");
  EXPECT_EQ(s[2].value, 1.458255915e9);
  EXPECT_EQ(s[3].name, "metric_without_timestamp_and_labels");
  EXPECT_TRUE(s[3].labels.empty());
  EXPECT_EQ(s[3].timestamp_ms, std::nullopt);
  EXPECT_TRUE(std::isinf(s[4].value) && s[4].value > 0);
  EXPECT_EQ(s[4].timestamp_ms, -3982045);
  EXPECT_EQ(s[6].labels[0].second, "+Inf");
  EXPECT_EQ(s[8].name, "http_request_duration_seconds_count");
}

TEST(PrometheusTextTest, SpecialValuesSpacingAndLineEnds) {
  std::vector<PrometheusSample> s =
      Parse("a NaN\r\nb -Inf\n  c{x=\"1\",} 2\nd { y = \"z\" } 1e-3\ne:sub 5\nf 1e999");
  ASSERT_EQ(s.size(), 6u);
  EXPECT_TRUE(std::isnan(s[0].value));
  EXPECT_TRUE(std::isinf(s[1].value) && s[1].value < 0);
  EXPECT_EQ(s[2].labels.size(), 1u);  // trailing comma
  EXPECT_EQ(s[3].labels[0].second, "z");
  EXPECT_EQ(s[3].value, 0.001);
  EXPECT_EQ(s[4].name, "e:sub");
  EXPECT_TRUE(std::isinf(s[5].value));
}

TEST(PrometheusTextTest, MalformedLinesNameTheirNumber) {
  struct Case {
    const char* text;
    const char* needle;
  };
  for (const Case& c :
       {Case{"ok 1\n{x=\"1\"} 2", "line 2: expected a metric name"},
        Case{"a{x=1} 2", "double quotes"}, Case{"a{x=\"1} 2", "unterminated"},
        Case{"a{x=\"\\q\"} 2", "unknown escape"},
        Case{"a{x=\"1\" y=\"2\"} 2", "expected ',' or '}'"},
        Case{"a{x=\"1\",x=\"2\"} 2", "given twice"}, Case{"a{0x=\"1\"} 2", "bad label name"},
        Case{"a", "bad sample value"}, Case{"a one", "bad sample value"},
        Case{"a 1 2.5", "bad timestamp"}, Case{"a 1 2 3", "text after the timestamp"},
        Case{"a 0x10", "bad sample value"}}) {
    Result<std::vector<PrometheusSample>> r = ParsePrometheusText(c.text, 100);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().message().find(c.needle), std::string::npos)
        << c.text << " gave " << r.error().message();
  }
}

TEST(PrometheusTextTest, FilterSkipsLinesBeforeParsingThem) {
  auto keep = [](std::string_view name, const void*) { return name.rfind("http_", 0) == 0; };
  // The broken line is not kept, so it is not parsed.
  Result<std::vector<PrometheusSample>> r =
      ParsePrometheusText("other{{{ broken\nhttp_x 1\nhttp_y{a=\"b\"} 2\n", 10, keep);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].name, "http_y");
}

TEST(PrometheusTextTest, SampleCap) {
  std::string page;
  for (int i = 0; i < 11; ++i) page += "m{i=\"" + std::to_string(i) + "\"} 1\n";
  EXPECT_TRUE(ParsePrometheusText(page, 11).ok());
  Result<std::vector<PrometheusSample>> r = ParsePrometheusText(page, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("more than 10 samples (line 11)"), std::string::npos)
      << r.error().message();
}

TEST(PrometheusTextTest, EmptyAndCommentOnlyPages) {
  EXPECT_TRUE(Parse("").empty());
  EXPECT_TRUE(Parse("# HELP x y\n\n   \n# TYPE x gauge\n").empty());
}

// ---- the source ----

class PrometheusSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    dir_ = new testing::TempDir;
    std::ofstream(dir_->path() + "/metrics") << kPage;
    std::ofstream(dir_->path() + "/broken") << "ok 1\nbad{ 2\n";
    // Prints "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ...".
    peer_ = testing::StartPeer({"/usr/bin/python3", "-u", "-m", "http.server", "--bind",
                                "127.0.0.1", "--directory", dir_->path(), "0"});
    ASSERT_GT(peer_.pid, 0);
    const std::string& line = peer_.first_line;
    size_t at = line.find(" port ");
    ASSERT_NE(at, std::string::npos) << line;
    port_ = std::atoi(line.c_str() + at + 6);
    ASSERT_GT(port_, 0) << line;
  }

  static void TearDownTestSuite() {
    testing::StopPeer(peer_);
    delete dir_;
    curl_global_cleanup();
  }

  static std::string Poll(const std::string& path, const std::string& keys) {
    testing::Built b =
        testing::Build("type = \"prometheus\"\nurl = \"http://127.0.0.1:" + std::to_string(port_) +
                       path + "\"\n" + keys);
    EXPECT_TRUE(b.errors.empty()) << b.AllErrors();
    if (!b.source) return "(not built)";
    auto r = b.source->Poll(std::chrono::milliseconds(5000));
    if (!r) return "ERROR: " + r.error().message();
    EXPECT_EQ(r->size(), 1u);
    return r->front().data_json;
  }

  static testing::TempDir* dir_;
  static testing::Peer peer_;
  static int port_;
};
testing::TempDir* PrometheusSourceTest::dir_ = nullptr;
testing::Peer PrometheusSourceTest::peer_;
int PrometheusSourceTest::port_ = 0;

TEST_F(PrometheusSourceTest, KeepsSelectedSamplesWithLabels) {
  EXPECT_EQ(Poll("/metrics", "metrics = [\"http_requests_*\", \"something_*\"]"),
            R"({"samples":[{"name":"http_requests_total","labels":{"method":"post","code":"200"},)"
            R"("value":1027,"ts":1395066363000},{"name":"http_requests_total","labels":)"
            R"({"method":"post","code":"400"},"value":3,"ts":1395066363000},{"name":)"
            R"("something_weird","labels":{"problem":"division by zero"},"value":"+Inf",)"
            R"("ts":-3982045}]})");
  EXPECT_EQ(Poll("/metrics", "labels = { code = \"400\" }"),
            R"({"samples":[{"name":"http_requests_total","labels":{"method":"post","code":"400"},)"
            R"("value":3,"ts":1395066363000}]})");
  std::string all = Poll("/metrics", "");
  EXPECT_NE(all.find(R"("path":"C:\\DIR\\FILE.TXT","error":"Cannot find file:\u000a\"FILE.TXT\"")"),
            std::string::npos)
      << all;
}

TEST_F(PrometheusSourceTest, ErrorsNameTheCause) {
  std::string m = Poll("/broken", "");
  EXPECT_NE(m.find("line 2: "), std::string::npos) << m;
  m = Poll("/metrics", "metrics = [\"nosuch_*\"]");
  EXPECT_NE(m.find("no sample matches"), std::string::npos) << m;
  m = Poll("/missing", "");
  EXPECT_NE(m.find("HTTP 404 from http://127.0.0.1:"), std::string::npos) << m;
  m = Poll("/metrics", "max_samples = 3");
  EXPECT_NE(m.find("more than 3 samples"), std::string::npos) << m;
}

}  // namespace
}  // namespace granary
