// A report taken from an outbox: one JSON object with an RFC 4122 "uuid", a "kind" (else
// the outbox's) and optional "files" (docs/outbox.md).
#pragma once

#include <string>
#include <string_view>

#include "agent/outbox/outbox_config.h"
#include "platform/result.h"

namespace granary {

struct ParsedReport {
  std::string uuid, kind;
  std::string body;            // what is stored and uploaded: the original bytes, unless
  bool uuid_assigned = false;  // a uuid was assigned, which is then written into it
};

// The report in `text`, or why it is refused (the reason file's text).
Result<ParsedReport> ParseReport(std::string_view text, const OutboxConfig& outbox);

}  // namespace granary
