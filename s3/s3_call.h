// Private to s3/: one request of S3Client, shared by the object calls (s3_client.cpp) and
// the multipart calls (s3_multipart.cpp).
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "platform/crypto.h"
#include "s3/s3_client.h"

namespace granary {

// One request: what to send and where the answer goes.
struct S3Client::Call {
  std::string method;    // GET, PUT, POST, DELETE or HEAD
  std::string key;       // empty: the bucket itself
  std::string query;     // as on the wire, without '?'
  sigv4::Headers extra;  // signed, in addition to host and x-amz-*
  std::string payload_sha256 = std::string(sigv4::kEmptyPayloadSha256);
  // PUT: `upload_size` bytes read from `upload`'s current position (a part is a range of
  // the file, so reading stops there rather than at the end of the file).
  FILE* upload = nullptr;
  uint64_t upload_size = 0;
  uint64_t upload_left = 0;
  off_t upload_start = 0;  // where the body starts in `upload`, for a rewind
  std::string post_body;   // POST only
  const std::function<bool(std::string_view)>* sink = nullptr;
  CURL* curl = nullptr;
  S3Response response;
  bool sink_aborted = false;
};

namespace s3_detail {

// Content-MD5 is the raw digest in base64; the callers carry it as hex.
inline std::string Base64OfHex(std::string_view hex) {
  Result<std::string> raw = HexDecode(hex);
  return Base64Encode(raw ? *raw : std::string());
}

}  // namespace s3_detail
}  // namespace granary
