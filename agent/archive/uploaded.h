// The archive segments a device uploaded, read back from the [upload] bucket for
// `granary replay --s3` when the local copies are gone (docs/operations.md "Replay").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/archive/messages.h"
#include "agent/config.h"
#include "platform/env.h"
#include "platform/result.h"

namespace granary {

struct UploadedScan {
  size_t objects = 0;  // .bson.gz objects read
  size_t skipped = 0;  // whose key's hour starts at or after the end of the range
  size_t damaged = 0;  // reported by key and not (or only partly) read
};

// Lists `device`'s .bson.gz objects under the configured key prefix (of source `only`, or
// of every mqtt source), in key order; skips an object whose key says its first reading
// is at or after `to_ms`; GETs each into a temporary file, checks it against its
// x-amz-meta-granary-sha256 (or, without one, an MD5 ETag) and visits its messages.
// A damaged object (digest mismatch, larger than listed, bad gzip or framing) is named
// on stderr, counted and the scan goes on. An Error: no [upload] section, unusable
// credentials, a list or GET the service refused (naming the endpoint and the S3 error
// code), a network failure.
Result<UploadedScan> ForEachUploadedMessage(Env& env, const AgentConfig& config,
                                            const std::string& device, const std::string& only,
                                            int64_t to_ms, const MessageVisit& visit);

}  // namespace granary
