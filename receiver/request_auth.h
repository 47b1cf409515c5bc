// SigV4 header authentication of S3 requests, on the agent's own canonicalisation
// (s3/sigv4.h), so signer and verifier agree byte for byte.
//
// Checked, in order: an Authorization header of the AWS4-HMAC-SHA256 form; a known access
// key; the credential scope (date equals the request date, region, service); a request
// date (x-amz-date, else Date) sent once, signed, and within the skew window; host and
// every x-amz-* header signed;
// x-amz-content-sha256 present (S3 mode) and not a streaming (aws-chunked) marker; then the
// signature, compared in constant time. The body's hash is checked by the caller once the
// body has arrived (VerifiedRequest::payload_hash).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "receiver/config.h"
#include "receiver/http_request.h"
#include "receiver/s3_error.h"

namespace granary::receiver {

struct VerifierOptions {
  std::string region = "us-east-1";
  std::string service = "s3";
  std::chrono::milliseconds max_skew{15 * 60 * 1000};
  // S3 requires x-amz-content-sha256; the generic SigV4 suite has none (its payload hash
  // is the body's, given as `generic_payload_hash`).
  bool require_content_sha256 = true;
  bool allow_unsigned_payload = false;
};

struct VerifiedRequest {
  std::string device;
  std::string payload_hash;  // lowercase hex SHA-256 the body must have, or UNSIGNED-PAYLOAD
  int64_t request_time_ms = 0;
};

// Thread-safe: ReplaceKeys may run while requests are verified; each request sees one
// whole set of keys, the old or the new.
class RequestVerifier {
 public:
  RequestVerifier(const std::vector<DeviceKey>& keys, VerifierOptions options);

  // The keys from now on (the registry changed, or the config was reloaded).
  void ReplaceKeys(const std::vector<DeviceKey>& keys);
  size_t key_count() const;
  // Whether any key (in or out of its grace) belongs to `device`.
  bool KnowsDevice(const std::string& device) const;

  // `now_ms`: wall clock. On success fills `out` and returns an ok S3Error.
  S3Error Verify(const HttpRequest& request, int64_t now_ms, VerifiedRequest* out,
                 const std::string& generic_payload_hash = "") const;

 private:
  using KeyMap = std::unordered_map<std::string, DeviceKey>;
  std::shared_ptr<const KeyMap> Snapshot() const;

  mutable std::mutex mu_;  // guards keys_ (the pointer; the map is immutable)
  std::shared_ptr<const KeyMap> keys_;
  VerifierOptions options_;
};

}  // namespace granary::receiver
