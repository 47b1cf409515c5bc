// The two S3 XML documents the client reads: error documents and ListObjectsV2 pages.
// Parsed with expat; anything malformed is an Error, never a crash.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "platform/result.h"

namespace granary {

struct S3ErrorDocument {
  std::string code;
  std::string message;
};

struct S3ListedObject {
  std::string key;
  uint64_t size = 0;
  std::string etag;  // quotes removed
};

struct S3ListPage {
  std::vector<S3ListedObject> objects;
  bool truncated = false;
  std::string next_token;
};

Result<S3ErrorDocument> ParseS3Error(std::string_view xml);
Result<S3ListPage> ParseListObjectsV2(std::string_view xml);

}  // namespace granary
