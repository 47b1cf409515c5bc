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

}  // namespace granary::receiver
