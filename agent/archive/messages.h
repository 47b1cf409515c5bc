// The archived messages of one segment, decoded one at a time for `granary archive` and
// `granary replay`, wherever the segment came from (the state dir, the buffer, S3).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "archive/message.h"
#include "archive/segment_reader.h"

namespace granary {

// A segment's limits when read back: what the archive writes stays far inside them.
inline constexpr uint32_t kMaxArchiveDocumentBytes = 16U << 20;
inline constexpr uint64_t kMaxArchiveRawBytes = 1ULL << 40;

// `where` names the segment (a file name, "buffer" or an object key). Returns false to stop.
using MessageVisit = std::function<bool(const archive::ArchivedMessage&, const std::string& where)>;

// Every document of `reader` to `visit`; one that does not decode, and a framing error,
// are reported on stderr with `where` and the byte offset. Returns false when `visit`
// stopped; `damaged` (optional) is set when anything was reported.
bool VisitSegment(archive::SegmentReader& reader, const std::string& where,
                  const MessageVisit& visit, bool* damaged = nullptr);

}  // namespace granary
