// The S3 XML documents the client reads: the error document, a ListObjectsV2 page and the
// multipart answers (Initiate, ListParts, ListMultipartUploads, Complete); and the one it
// writes, CompleteMultipartUpload's request. Anything malformed is an Error, never a crash.
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

// InitiateMultipartUploadResult: the new upload's id.
Result<std::string> ParseInitiateMultipartUpload(std::string_view xml);

struct S3Part {
  uint32_t number = 0;  // 1..10000
  std::string etag;     // without the quotes
  uint64_t size = 0;
};

// One ListParts page, parts in the order the server listed them.
struct S3PartList {
  std::vector<S3Part> parts;
  bool truncated = false;
  uint32_t next_marker = 0;  // the next page's part-number-marker, set when truncated
};

Result<S3PartList> ParseListParts(std::string_view xml);

struct S3PendingUpload {
  std::string key;
  std::string upload_id;
};

// One ListMultipartUploads page (only the uploads; the caller lists by exact key prefix).
struct S3PendingUploadList {
  std::vector<S3PendingUpload> uploads;
  bool truncated = false;
  std::string next_key_marker, next_upload_id_marker;  // set when truncated
};

Result<S3PendingUploadList> ParseListMultipartUploads(std::string_view xml);

// CompleteMultipartUploadResult: the object's ETag without the quotes. S3 may answer
// 200 and then an error document (an error found after the answer began): that is an
// Error carrying the document's code in its message.
Result<std::string> ParseCompleteMultipartUpload(std::string_view xml);

// The CompleteMultipartUpload request body for `parts` (ascending by number).
std::string CompleteMultipartUploadXml(const std::vector<S3Part>& parts);

}  // namespace granary
