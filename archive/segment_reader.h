// The documents of an archive segment (docs/formats.md "Archive segments"), one at a time with
// each one's byte offset in the decompressed stream, never holding the segment whole. Framing
// only: a document's length field must lie in [5, max_document_bytes] and the stream must end
// exactly after a document; DecodeBson checks what is inside.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "platform/gzip_lines.h"
#include "platform/result.h"

namespace granary::archive {

struct SegmentDocument {
  uint64_t offset = 0;     // of its first byte in the decompressed stream
  std::string_view bytes;  // the whole document, valid until the next Next()
};

class SegmentReader {
 public:
  SegmentReader(uint32_t max_document_bytes, uint64_t max_raw_bytes);

  // A gzip file (strict: truncation, trailing garbage or a bomb is an error).
  Status OpenGzip(const std::string& path);
  // The same, with the compressed bytes pulled from `source` (GzipLineReader::Source).
  Status OpenGzip(GzipLineReader::Source source, const std::string& name);
  // Decompressed bytes held by the caller, who keeps them alive while reading.
  void OpenMemory(std::string_view decompressed);

  // The next document; false at the clean end or on an error (see status()).
  bool Next(SegmentDocument* doc);
  const Status& status() const { return status_; }
  // Decompressed bytes consumed so far (at the end: the stream's size).
  uint64_t offset() const { return offset_; }
  // Every decompressed byte, in order, to `observer` (gzip input only; e.g. hashing).
  void SetObserver(void (*observer)(void* ctx, std::string_view data), void* ctx) {
    gzip_.SetObserver(observer, ctx);
  }

 private:
  std::string_view Peek(size_t n);

  uint32_t max_document_bytes_;
  GzipLineReader gzip_;
  bool from_memory_ = false;
  std::string_view memory_;
  size_t memory_pos_ = 0, pending_ = 0;
  uint64_t offset_ = 0;
  Status status_;
};

}  // namespace granary::archive
