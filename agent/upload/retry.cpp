#include "agent/upload/retry.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "platform/time.h"

namespace granary {

Verdict JudgeUpload(const Result<S3Response>& result, std::string_view expected_md5_hex) {
  Verdict v;
  if (!result) {
    v.outcome = Outcome::kRetry;
    v.error = result.error().message();
    return v;
  }
  const S3Response& r = *result;
  if (std::string ra = r.Header("retry-after"); !ra.empty()) {
    int64_t secs = 0;
    auto [p, ec] = std::from_chars(ra.data(), ra.data() + ra.size(), secs);
    if (ec == std::errc() && secs > 0) {
      v.retry_after = std::chrono::milliseconds(std::min<int64_t>(secs, 3600) * 1000);
    } else if (int64_t at = ParseHttpDate(ra); at > 0) {
      int64_t now = ParseHttpDate(r.Header("date"));
      if (now > 0 && at > now)
        v.retry_after = std::chrono::milliseconds(std::min<int64_t>(at - now, 3'600'000));
    }
  }
  if (r.ok()) {
    std::string etag = r.Header("etag");
    if (etag.size() >= 2 && etag.front() == '"') etag = etag.substr(1, etag.size() - 2);
    if (etag == expected_md5_hex) {
      v.outcome = Outcome::kStored;
      return v;
    }
    v.outcome = Outcome::kRetry;
    v.error = fmt::format("HTTP {} but ETag \"{}\" is not the body's MD5 {}", r.status, etag,
                          expected_md5_hex);
    return v;
  }
  v.error = fmt::format("HTTP {}{}{}{}", r.status, r.error_code.empty() ? "" : " ", r.error_code,
                        r.error_message.empty() ? "" : ": " + r.error_message);
  if (r.error_code == "RequestTimeTooSkewed") {
    v.outcome = Outcome::kSkewed;
    v.server_time_ms = ParseHttpDate(r.Header("date"));
    return v;
  }
  bool retryable = r.status == 408 || r.status == 429 || r.status >= 500 ||
                   r.error_code == "SlowDown" || r.error_code == "RequestTimeout" ||
                   r.error_code == "InternalError" || r.error_code == "ServiceUnavailable";
  v.outcome = retryable ? Outcome::kRetry : Outcome::kPermanent;
  v.account = !retryable &&
              (r.status == 401 || r.status == 403 || r.error_code == "NoSuchBucket" ||
               r.error_code == "InvalidAccessKeyId" || r.error_code == "SignatureDoesNotMatch");
  return v;
}

std::chrono::milliseconds BackoffDelay(int attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap,
                                       std::chrono::milliseconds floor, std::mt19937_64& rng) {
  int64_t ceiling = base.count();
  for (int i = 0; i < attempt && ceiling < cap.count(); ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap.count());
  std::uniform_int_distribution<int64_t> dist(0, ceiling);
  return std::max(std::chrono::milliseconds(dist(rng)), floor);
}

}  // namespace granary
