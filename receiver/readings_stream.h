// Streams the readings of stored segments as JSON Lines or CSV, one segment file open at
// a time, filtered to a time window. Used by GET /api/v1/devices/{id}/readings.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "platform/gzip_lines.h"
#include "receiver/index.h"
#include "receiver/object_store.h"

namespace granary::receiver {

class ReadingsStream {
 public:
  enum class Format { kJsonLines, kCsv };
  // `max_line_bytes` is the validator's: every accepted line fits.
  ReadingsStream(const ObjectStore& store, std::vector<SegmentRow> segments, int64_t from_ms,
                 int64_t to_ms, Format format, uint64_t max_line_bytes);
  // Up to `max` bytes into `buf`; 0 at the end, -1 on a read error.
  long Fill(char* buf, size_t max);

 private:
  bool NextLine(std::string* out);  // false at the end or on error (error_ set)

  const ObjectStore& store_;
  std::vector<SegmentRow> segments_;
  size_t next_segment_ = 0;
  int64_t from_ms_, to_ms_;
  Format format_;
  uint64_t max_line_bytes_;
  std::unique_ptr<GzipLineReader> reader_;
  std::string pending_;
  size_t pending_pos_ = 0;
  bool header_done_ = false;
  bool error_ = false;
};

}  // namespace granary::receiver
