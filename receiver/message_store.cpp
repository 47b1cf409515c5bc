#include "receiver/message_store.h"

#include <fmt/format.h>

#include "archive/message.h"
#include "archive/segment_reader.h"

namespace granary::receiver {
namespace {

constexpr uint64_t kMaxRawBytes = 1ull << 34;

// Why `doc` is not `row`'s document ("" when it is).
std::string Mismatch(const MessageRow& row, const archive::SegmentDocument& doc) {
  if (doc.offset != row.offset) {
    return fmt::format("no document starts at byte {} (one starts at {})", row.offset, doc.offset);
  }
  if (doc.bytes.size() != row.length) {
    return fmt::format("the document at byte {} is {} bytes, the index says {}", row.offset,
                       doc.bytes.size(), row.length);
  }
  auto m = archive::DecodeBson(doc.bytes);
  if (!m) return fmt::format("the document at byte {}: {}", row.offset, m.error().message());
  std::string id = archive::UuidText(m->id);
  if (id != row.id) return fmt::format("the document at byte {} has _id {}", row.offset, id);
  return "";
}

}  // namespace

Result<std::vector<std::string>> WalkSegmentMessages(
    const ObjectStore& store, const std::string& bucket, const std::string& key,
    const std::vector<MessageRow>& rows, uint32_t max_document_bytes,
    const std::function<void(const MessageRow&, std::string_view document)>& visit) {
  archive::SegmentReader reader(max_document_bytes, kMaxRawBytes);
  auto object = store.OpenReader(bucket, key);
  if (!object) return object.error();
  if (Status s = reader.OpenGzip(SequentialSource(std::move(*object)), bucket + "/" + key); !s)
    return s.error();
  std::vector<std::string> problems;
  auto problem = [&](const MessageRow& row, const std::string& why) {
    problems.push_back(
        fmt::format("message {} ({}/{} seq {}): {}", row.id, bucket, key, row.seq, why));
  };
  archive::SegmentDocument doc;
  bool have = reader.Next(&doc);
  for (const MessageRow& row : rows) {
    while (have && doc.offset < row.offset) have = reader.Next(&doc);
    if (!have) {
      problem(row, reader.status().ok() ? fmt::format("the segment ends before byte {}", row.offset)
                                        : reader.status().error().message());
      continue;
    }
    std::string why = Mismatch(row, doc);
    if (!why.empty()) {
      problem(row, why);
      continue;
    }
    visit(row, doc.bytes);
  }
  return problems;
}

Result<std::string> ReadMessageDocument(const ObjectStore& store, const MessageRow& row,
                                        uint32_t max_document_bytes) {
  std::string document;
  auto problems = WalkSegmentMessages(
      store, row.bucket, row.key, {row}, max_document_bytes,
      [&](const MessageRow&, std::string_view d) { document = std::string(d); });
  if (!problems) return problems.error();
  if (!problems->empty()) return Error(problems->front());
  return document;
}

}  // namespace granary::receiver
