// The receiver's archive segment validator over any decompressed stream: it accepts or
// rejects with a reason, never crashes; what it accepts is exactly tiled by its messages,
// and every accepted document decodes and encodes back to the same bytes (the strict decoder
// leaves no second spelling of a message).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "archive/message.h"
#include "archive/segment_reader.h"
#include "receiver/validator_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace granary;
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  receiver::ValidatorLimits limits;
  limits.max_document_bytes = 1 << 20;
  archive::SegmentReader reader(limits.max_document_bytes, limits.max_raw_bytes);
  reader.OpenMemory(raw);
  StreamHasher content(/*with_md5=*/false);
  content.Update(raw);
  receiver::ObjectMeta meta;
  meta.bucket = "granary";
  meta.key = "granary/h017/robot/2025/11/30/h017-robot-20251130T00-1.bson.gz";
  receiver::Validation v =
      receiver::validator_checks::ValidateBsonDocuments(reader, meta, "h017", limits, &content);
  if (!v.ok) {
    if (v.reason.empty()) std::abort();
    return 0;
  }
  const receiver::SegmentFacts& f = v.segment;
  if (f.messages.size() != f.count || f.count == 0 || f.raw_bytes != size ||
      f.last_seq - f.first_seq + 1 != f.count) {
    std::abort();
  }
  uint64_t offset = 0;
  for (const receiver::MessageFacts& m : f.messages) {
    if (m.offset != offset || m.offset + m.length > size) std::abort();
    std::string_view doc = raw.substr(m.offset, m.length);
    auto decoded = archive::DecodeBson(doc);
    if (!decoded || archive::EncodeBson(*decoded) != doc ||
        archive::UuidText(decoded->id) != m.id) {
      std::abort();
    }
    offset += m.length;
  }
  if (offset != size) std::abort();
  return 0;
}
