// The Prometheus text parser over arbitrary pages: never crashes, honours the sample cap,
// and every sample it returns has a valid metric name.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "agent/sources/prometheus_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view page(reinterpret_cast<const char*>(data), size);
  constexpr size_t kCap = 64;
  auto samples = granary::ParsePrometheusText(page, kCap);
  if (samples) {
    if (samples->size() > kCap) std::abort();
    for (const auto& s : *samples) {
      if (s.name.empty() || (s.name[0] >= '0' && s.name[0] <= '9')) std::abort();
    }
  }
  return 0;
}
