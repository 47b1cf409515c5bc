// The one S3 XML document the client reads: the error document. Anything malformed is an
// Error, never a crash.
#pragma once

#include <string>
#include <string_view>

#include "platform/result.h"

namespace granary {

struct S3ErrorDocument {
  std::string code;
  std::string message;
};

Result<S3ErrorDocument> ParseS3Error(std::string_view xml);

}  // namespace granary
