// What a PUT and an UploadPart check of a body: Content-Length and Content-MD5 before it is
// read, then its length, SigV4 payload hash and MD5 once it has streamed to disk.
#pragma once

#include <cstdint>
#include <string>

#include "platform/crypto.h"
#include "receiver/http_request.h"
#include "receiver/request_auth.h"
#include "receiver/s3_error.h"

namespace granary::receiver {

struct BodyHeaders {
  bool has_length = false;  // else chunked
  uint64_t length = 0;
  std::string md5_hex;  // from Content-MD5; "" when not sent
};

// Reads Content-Length (or chunked transfer) and Content-MD5; a length over `max_bytes` is
// EntityTooLarge.
S3Error ReadBodyHeaders(const HttpRequest& request, uint64_t max_bytes, BodyHeaders* out);
// The message of EntityTooLarge for `max_bytes`.
std::string TooLargeMessage(uint64_t max_bytes);
// Whether the body received (`digest`) is the one announced and signed.
S3Error CheckBody(const StreamDigests& digest, const BodyHeaders& headers,
                  const VerifiedRequest& verified);

}  // namespace granary::receiver
