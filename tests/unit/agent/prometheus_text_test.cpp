// The Prometheus text exposition parser: the format's own example page, escapes, special
// values, filters, and malformed lines reported by number.
#include "agent/sources/prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>

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
  EXPECT_EQ(s[0].labels, (std::vector<std::pair<std::string, std::string>>{
                             {"method", "post"}, {"code", "200"}}));
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
  for (const Case& c : {Case{"ok 1\n{x=\"1\"} 2", "line 2: expected a metric name"},
                        Case{"a{x=1} 2", "double quotes"},
                        Case{"a{x=\"1} 2", "unterminated"},
                        Case{"a{x=\"\\q\"} 2", "unknown escape"},
                        Case{"a{x=\"1\" y=\"2\"} 2", "expected ',' or '}'"},
                        Case{"a{x=\"1\",x=\"2\"} 2", "given twice"},
                        Case{"a{0x=\"1\"} 2", "bad label name"},
                        Case{"a", "bad sample value"},
                        Case{"a one", "bad sample value"},
                        Case{"a 1 2.5", "bad timestamp"},
                        Case{"a 1 2 3", "text after the timestamp"},
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

}  // namespace
}  // namespace granary
