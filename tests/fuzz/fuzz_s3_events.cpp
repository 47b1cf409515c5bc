// ParseS3Events: any input parses or errors; every parsed record names a bucket and a key,
// and never more records than the document can hold.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "receiver/s3_events.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto batch = granary::receiver::ParseS3Events(text);
  if (!batch) return 0;
  if (batch->records.size() > size) std::abort();
  for (const auto& r : batch->records) {
    if (r.bucket.empty() || r.key.empty()) std::abort();
  }
  return 0;
}
