#include "archive/segment_reader.h"

#include <fmt/format.h>

namespace granary::archive {

SegmentReader::SegmentReader(uint32_t max_document_bytes, uint64_t max_raw_bytes)
    : max_document_bytes_(max_document_bytes), gzip_(max_document_bytes, max_raw_bytes) {}

Status SegmentReader::OpenGzip(const std::string& path) {
  from_memory_ = false;
  return status_ = gzip_.Open(path);
}

Status SegmentReader::OpenGzip(GzipLineReader::Source source, const std::string& name) {
  from_memory_ = false;
  return status_ = gzip_.Open(std::move(source), name);
}

void SegmentReader::OpenMemory(std::string_view decompressed) {
  from_memory_ = true;
  memory_ = decompressed;
}

std::string_view SegmentReader::Peek(size_t n) {
  if (from_memory_) return memory_.substr(memory_pos_, n);
  std::string_view v = gzip_.Peek(n);
  if (!gzip_.status().ok()) status_ = gzip_.status();
  return v;
}

bool SegmentReader::Next(SegmentDocument* doc) {
  if (!status_.ok()) return false;
  // The previous document is consumed only now, so its view stayed valid until this call.
  if (from_memory_) {
    memory_pos_ += pending_;
  } else {
    gzip_.Consume(pending_);
  }
  offset_ += pending_;
  pending_ = 0;
  std::string_view head = Peek(4);
  if (!status_.ok()) return false;
  if (head.empty()) return false;
  if (head.size() < 4) {
    status_ =
        Error(fmt::format("truncated document at byte {}: {} bytes left, a length "
                          "field needs 4",
                          offset_, head.size()));
    return false;
  }
  uint32_t len = static_cast<uint8_t>(head[0]) | static_cast<uint8_t>(head[1]) << 8 |
                 static_cast<uint8_t>(head[2]) << 16 |
                 static_cast<uint32_t>(static_cast<uint8_t>(head[3])) << 24;
  if (len < 5 || len > max_document_bytes_) {
    status_ = Error(fmt::format("document at byte {} declares {} bytes (allowed 5 to {})", offset_,
                                len, max_document_bytes_));
    return false;
  }
  std::string_view bytes = Peek(len);
  if (!status_.ok()) return false;
  if (bytes.size() < len) {
    status_ = Error(fmt::format("truncated document at byte {}: declares {} bytes, {} left",
                                offset_, len, bytes.size()));
    return false;
  }
  doc->offset = offset_;
  doc->bytes = bytes;
  pending_ = len;
  return true;
}

}  // namespace granary::archive
