// Which object keys the receiver takes: apart from SigV4 and the S3 API, so the request
// checks (and their fuzz target) need nothing else of the receiver.
#pragma once

#include <string>

#include "receiver/s3_error.h"

namespace granary::receiver {

// A key S3 would take that is also safe as a relative path: no empty, "." or ".."
// segment, no leading '/', no NUL or control bytes, at most 1024 bytes and 255 per segment.
S3Error CheckObjectKey(const std::string& key);

}  // namespace granary::receiver
