// ParseStatusJson (what `granary status` and `flush` read from a file another process
// writes): never crashes on any bytes; a parsed status serializes again.
#include <cstdint>
#include <string>

#include "agent/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto s = granary::ParseStatusJson(text)) {
    (void)granary::StatusJson(*s);
  }
  return 0;
}
