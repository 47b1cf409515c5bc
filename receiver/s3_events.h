// S3 event notifications (real-S3 mode): the standard {"Records": [...]} document as
// MinIO's webhook sends it, or wrapped in an SNS HTTP "Notification" envelope. Parsing
// never throws and never trusts sizes; a malformed document is an Error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "platform/result.h"

namespace granary::receiver {

struct S3EventRecord {
  std::string event_name;  // ObjectCreated:Put, ...
  std::string bucket;
  std::string key;  // decoded (event keys are form-encoded: '+' is a space)
  uint64_t size = 0;
  std::string etag;  // without quotes; may be empty
};

struct S3EventBatch {
  std::vector<S3EventRecord> records;  // ObjectCreated:* only
  uint64_t ignored = 0;                // other event types, test events
  std::string subscribe_url;           // SNS SubscriptionConfirmation: confirm out of band
};

Result<S3EventBatch> ParseS3Events(std::string_view json);

}  // namespace granary::receiver
