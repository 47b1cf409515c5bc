// The run counter parsers: any bytes parse without crashing, every run found is below 2^63
// and every instrument non-empty, with the default lastruns.txt pattern and a directory one.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "agent/outbox/runs.h"
#include "agent/outbox/runs_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const granary::CounterPattern counter =
      *granary::CompileCounterPattern(granary::kDefaultCounterRegex, true);
  static const granary::CounterPattern dir =
      *granary::CompileCounterPattern(R"(session-(\d+))", false);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& [instrument, run] : granary::ParseCounterFile(text, counter)) {
    if (instrument.empty() || run >= (1ULL << 63)) std::abort();
  }
  std::vector<std::string> names;
  for (size_t at = 0; at <= text.size();) {
    size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) nl = text.size();
    names.emplace_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  if (auto run = granary::HighestRunEntry(names, dir); run && *run >= (1ULL << 63)) std::abort();
  (void)granary::ExpandRunTemplate(text, "MERLIN", 12345);
  return 0;
}
