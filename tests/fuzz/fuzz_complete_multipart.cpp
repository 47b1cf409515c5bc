// ParseCompleteMultipartUpload: any input parses or is refused with an S3 error code; a parsed
// list holds 1 to 10,000 parts whose numbers ascend within 1..10000, each with an ETag.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "receiver/multipart_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using granary::receiver::ListedPart;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<ListedPart> parts;
  granary::receiver::S3Error error = granary::receiver::ParseCompleteMultipartUpload(text, &parts);
  if (!error.ok()) {
    if (error.code != "MalformedXML" && error.code != "InvalidPartOrder") std::abort();
    return 0;
  }
  if (parts.empty() || parts.size() > granary::receiver::kMaxParts) std::abort();
  int previous = 0;
  for (const ListedPart& p : parts) {
    if (p.number <= previous || p.number > granary::receiver::kMaxParts || p.etag.empty()) {
      std::abort();
    }
    previous = p.number;
  }
  return 0;
}
