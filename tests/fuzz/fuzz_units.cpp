// ParseDuration / ParseSize: any input either parses or errors; parsed values round-trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/units.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto d = granary::ParseDuration(text)) {
    auto again = granary::ParseDuration(granary::FormatDuration(*d));
    if (!again || *again != *d) std::abort();
  }
  if (auto s = granary::ParseSize(text)) {
    auto again = granary::ParseSize(granary::FormatSize(*s));
    if (!again || *again != *s) std::abort();
  }
  return 0;
}
