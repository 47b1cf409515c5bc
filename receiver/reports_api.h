// GET /api/v1/reports (paginated), /api/v1/reports/{uuid} (the report, its attachments and
// whether each is present, its validation state), /api/v1/reports/{uuid}/body (its stored
// bytes) and /api/v1/files/{uuid}/{name} (a file's bytes, with Range). docs/receiver.md
// "Reports and files".
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "receiver/context.h"

namespace granary::receiver {

// `path` is decoded and starts with /api/v1/reports; the caller checked the reader token.
HttpResponse ReportsAnswer(ReceiverContext& ctx, const std::string& path,
                           const std::string& raw_query);
// `path` starts with /api/v1/files/; `range` is the request's Range header ("" when none).
HttpResponse FileAnswer(ReceiverContext& ctx, const std::string& path, const std::string& range);

// A single "bytes=" range of a `size`-byte body as [first, last]; nullopt when the header is
// absent, malformed or names several ranges (the whole body is sent). `unsatisfiable` is set
// when it starts past the end.
struct ByteRange {
  uint64_t first = 0, last = 0;
};
std::optional<ByteRange> ParseRange(const std::string& header, uint64_t size, bool* unsatisfiable);

}  // namespace granary::receiver
