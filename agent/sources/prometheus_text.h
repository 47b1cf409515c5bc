// The Prometheus text exposition format (version 0.0.4), as exporters serve it on /metrics:
//   # HELP http_requests_total The total number of HTTP requests.
//   # TYPE http_requests_total counter
//   http_requests_total{method="post",code="200"} 1027 1395066363000
// No I/O here, so the parser is unit-tested and fuzzed on its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/result.h"

namespace granary {

struct PrometheusSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in text order, unescaped
  double value = 0;                                         // may be NaN or ±Inf
  std::optional<int64_t> timestamp_ms;
};

// Calls `keep` for each sample's name before parsing its labels, so a filter skips unwanted
// lines cheaply; nullptr keeps all. Comments (# HELP, # TYPE, others) and blank lines are
// skipped. The first malformed line is an error naming its 1-based number and quoting it;
// more than `max_samples` kept samples is an error too.
Result<std::vector<PrometheusSample>> ParsePrometheusText(std::string_view text, size_t max_samples,
                                                          bool (*keep)(std::string_view name,
                                                                       const void* arg) = nullptr,
                                                          const void* keep_arg = nullptr);

}  // namespace granary
