// The S3 XML documents the client reads: the error document and a ListObjectsV2 page. Anything
// malformed is an Error, never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "platform/result.h"

namespace granary {

struct S3ErrorDocument {
  std::string code;
  std::string message;
};

Result<S3ErrorDocument> ParseS3Error(std::string_view xml);

struct S3ListedObject {
  std::string key;
  uint64_t size = 0;
  std::string etag;  // without the quotes
};

struct S3ObjectList {
  std::vector<S3ListedObject> objects;
  bool truncated = false;
  std::string next_token;  // set when truncated
};

Result<S3ObjectList> ParseListObjectsV2(std::string_view xml);

}  // namespace granary
