// What an upload attempt's outcome means, and how long to wait before the next one:
// exponential backoff with full jitter, Retry-After honoured.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "platform/result.h"
#include "s3/s3_client.h"

namespace granary {

enum class Outcome {
  kStored,     // 2xx and the ETag is the body's MD5
  kRetry,      // connect errors, timeouts, 408, 429, 5xx, SlowDown, a wrong ETag
  kSkewed,     // RequestTimeTooSkewed: learn the server's clock and retry at once
  kPermanent,  // other 4xx (credentials, bucket): keep the segment, retry rarely
};

struct Verdict {
  Outcome outcome = Outcome::kRetry;
  std::chrono::milliseconds retry_after{0};  // from a Retry-After header
  int64_t server_time_ms = 0;                // from the Date header, for kSkewed
  std::string error;                         // for status and logs; no secrets
  // kPermanent for the whole account (credentials, bucket, policy), not for this one
  // object's bytes (InvalidSegment, ObjectConflict, EntityTooLarge): only these heal when
  // another upload succeeds.
  bool account = false;
};

Verdict JudgeUpload(const Result<S3Response>& result, std::string_view expected_md5_hex);

// Full jitter: uniform in [0, min(cap, base * 2^attempt)], never below `floor`.
std::chrono::milliseconds BackoffDelay(int attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap,
                                       std::chrono::milliseconds floor, std::mt19937_64& rng);

}  // namespace granary
