// type = "prometheus": scrape a text-exposition endpoint (a harvester's or a node exporter's
// /metrics) and keep the selected samples, with their labels, as one reading:
//   {"samples":[{"name":"node_load1","labels":{},"value":0.42}, ...]}
// NaN and ±Inf, which JSON cannot hold, are stored as the strings "NaN", "+Inf", "-Inf".
#include <fmt/format.h>
#include <fnmatch.h>

#include <cmath>

#include "agent/sources/http_client.h"
#include "agent/sources/http_source.h"
#include "agent/sources/prometheus_text.h"
#include "agent/sources/quote.h"
#include "agent/sources/source.h"

namespace granary {
namespace {

struct PrometheusOptions {
  HttpClientOptions http;
  std::vector<std::string> metrics;                         // globs; empty: every metric
  std::vector<std::pair<std::string, std::string>> labels;  // all must match
  uint64_t max_samples = 10000;
};

// A JSON string literal for `s`; the exposition format allows any UTF-8 in label values.
std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string JsonNumber(double v) {
  if (std::isnan(v)) return "\"NaN\"";
  if (std::isinf(v)) return v > 0 ? "\"+Inf\"" : "\"-Inf\"";
  return fmt::format("{}", v);
}

class PrometheusSource : public HttpSource {
 public:
  // The HTTP options move to the base; o_.http is left empty.
  explicit PrometheusSource(PrometheusOptions options)
      : HttpSource(std::move(options.http)), o_(std::move(options)) {}

  Result<std::vector<SourceReading>> Parse(HttpReply reply) override {
    if (reply.status != 200) return client().StatusError(reply);
    Result<std::string> data = Extract(reply.body);
    if (!data) {
      return Error("reply from " + client().display_url() + ": " + data.error().message());
    }
    return std::vector<SourceReading>{{0, std::move(*data)}};
  }

  // The reading's data for one page.
  Result<std::string> Extract(std::string_view page) const {
    auto keep = [](std::string_view name, const void* self) {
      const auto* o = static_cast<const PrometheusOptions*>(self);
      if (o->metrics.empty()) return true;
      const std::string metric(name);
      for (const std::string& glob : o->metrics) {
        if (fnmatch(glob.c_str(), metric.c_str(), 0) == 0) return true;
      }
      return false;
    };
    Result<std::vector<PrometheusSample>> samples =
        ParsePrometheusText(page, o_.max_samples, keep, &o_);
    if (!samples) return samples.error();
    std::string json = "{\"samples\":[";
    bool first = true;
    for (const PrometheusSample& s : *samples) {
      if (!LabelsMatch(s)) continue;
      if (!first) json += ',';
      first = false;
      json += "{\"name\":" + JsonString(s.name) + ",\"labels\":{";
      for (size_t i = 0; i < s.labels.size(); ++i) {
        if (i > 0) json += ',';
        json += JsonString(s.labels[i].first) + ":" + JsonString(s.labels[i].second);
      }
      json += "},\"value\":" + JsonNumber(s.value);
      if (s.timestamp_ms) json += fmt::format(",\"ts\":{}", *s.timestamp_ms);
      json += '}';
    }
    if (first) return Error("no sample matches the metrics/labels filters");
    return json + "]}";
  }

 private:
  bool LabelsMatch(const PrometheusSample& s) const {
    for (const auto& [key, want] : o_.labels) {
      bool found = false;
      for (const auto& [name, value] : s.labels) {
        if (name == key && value == want) found = true;
      }
      if (!found) return false;
    }
    return true;
  }

  const PrometheusOptions o_;
};

std::unique_ptr<Source> CreatePrometheus(ConfigReader& reader) {
  size_t errors_before = reader.diagnostics()->errors.size();
  PrometheusOptions o;
  o.http.url = reader.RequiredString("url");
  if (!o.http.url.empty() && !HasHttpScheme(o.http.url)) {
    reader.Fail("url", "must be an http:// or https:// URL (got " +
                           QuoteRaw(DisplayUrl(o.http.url), 128) + ")");
  } else if (DisplayUrl(o.http.url) != o.http.url) {
    reader.Fail("url", "must not hold a password; use username and password");
  }
  o.http.username = reader.String("username", "");
  o.http.password = reader.SecretString("password", "");
  if (!o.http.password.empty() && o.http.username.empty())
    reader.Fail("password", "needs a username");
  o.http.tls_verify = reader.Bool("tls_verify", true);
  o.http.ca_file = reader.String("ca_file", "");
  o.http.max_body = reader.Size("max_body", 4 << 20, 1024);
  o.http.headers = {"Accept: text/plain;version=0.0.4"};
  o.metrics = reader.StringArray("metrics");
  o.labels = reader.StringMap("labels");
  o.max_samples = static_cast<uint64_t>(reader.Integer("max_samples", 10000, 1, 1'000'000));
  if (reader.diagnostics()->errors.size() > errors_before) return nullptr;
  return std::make_unique<PrometheusSource>(std::move(o));
}

}  // namespace

extern const SourceType kPrometheusSourceType{"prometheus", &CreatePrometheus};

}  // namespace granary
