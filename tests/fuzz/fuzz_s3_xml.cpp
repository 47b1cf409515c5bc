// The S3 XML answers the client parses (error, ListObjectsV2, the multipart answers): any
// input parses or errors; a truncated page always says where the next one starts; every
// listed part is numbered 1..10000 and has an ETag; a part list round-trips through the
// CompleteMultipartUpload body the client builds from it.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "platform/xml_tree.h"
#include "s3/s3_xml.h"

using namespace granary;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)ParseS3Error(text);
  (void)ParseInitiateMultipartUpload(text);
  (void)ParseCompleteMultipartUpload(text);
  if (auto list = ParseListObjectsV2(text); list && list->truncated && list->next_token.empty()) {
    std::abort();
  }
  if (auto up = ParseListMultipartUploads(text)) {
    if (up->truncated && up->next_key_marker.empty()) std::abort();
    for (const auto& u : up->uploads) {
      if (u.key.empty() || u.upload_id.empty()) std::abort();
    }
  }
  auto parts = ParseListParts(text);
  if (!parts) return 0;
  if (parts->truncated && parts->next_marker == 0) std::abort();
  for (const S3Part& p : parts->parts) {
    if (p.number == 0 || p.number > 10000 || p.etag.empty()) std::abort();
  }
  // The body we would send names the same parts, whatever bytes an ETag holds.
  auto body = ParseXml(CompleteMultipartUploadXml(parts->parts));
  if (!body || body->children.size() != parts->parts.size()) std::abort();
  for (size_t i = 0; i < parts->parts.size(); ++i) {
    const XmlElement& part = body->children[i];
    if (part.ChildText("PartNumber") != std::to_string(parts->parts[i].number)) std::abort();
  }
  return 0;
}
