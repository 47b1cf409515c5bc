#include "receiver/request_auth.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "platform/strings.h"
#include "platform/time.h"
#include "s3/sigv4.h"

namespace granary::receiver {
namespace {

bool IsLowerHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::string QueryParam(std::string_view raw_query, std::string_view name, bool* found) {
  if (found != nullptr) *found = false;
  size_t start = 0;
  while (start <= raw_query.size()) {
    size_t amp = raw_query.find('&', start);
    std::string_view part = raw_query.substr(
        start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    size_t eq = part.find('=');
    auto key = sigv4::UriDecode(part.substr(0, eq));
    if (key && *key == name) {
      if (found != nullptr) *found = true;
      if (eq == std::string_view::npos) return "";
      std::string value(part.substr(eq + 1));
      std::replace(value.begin(), value.end(), '+', ' ');  // form encoding, as S3 accepts
      auto decoded = sigv4::UriDecode(value);
      return decoded ? *decoded : std::string();
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return "";
}

RequestVerifier::RequestVerifier(const std::vector<DeviceKey>& keys, VerifierOptions options)
    : options_(std::move(options)) {
  ReplaceKeys(keys);
}

void RequestVerifier::ReplaceKeys(const std::vector<DeviceKey>& keys) {
  auto map = std::make_shared<KeyMap>();
  for (const DeviceKey& k : keys) map->emplace(k.access_key, k);
  std::lock_guard<std::mutex> lock(mu_);
  keys_ = std::move(map);
}

std::shared_ptr<const RequestVerifier::KeyMap> RequestVerifier::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_;
}

size_t RequestVerifier::key_count() const { return Snapshot()->size(); }

bool RequestVerifier::KnowsDevice(const std::string& device) const {
  std::shared_ptr<const KeyMap> keys = Snapshot();
  return std::any_of(keys->begin(), keys->end(),
                     [&](const auto& entry) { return entry.second.device == device; });
}

S3Error RequestVerifier::Verify(const HttpRequest& request, int64_t now_ms, VerifiedRequest* out,
                                const std::string& generic_payload_hash) const {
  if (!request.HasHeader("authorization")) {
    if (QueryParam(request.raw_query, "X-Amz-Signature", nullptr).empty()) {
      return MakeS3Error("AccessDenied", "Anonymous access is denied");
    }
    return MakeS3Error("NotImplemented", "Presigned URLs are not supported; sign the headers");
  }
  if (request.HeaderCount("authorization") > 1) {
    return MakeS3Error("InvalidArgument", "Only one Authorization header is allowed");
  }
  auto auth = sigv4::ParseAuthorization(request.Header("authorization"));
  if (!auth) return MakeS3Error("AuthorizationHeaderMalformed", auth.error().message());
  std::shared_ptr<const KeyMap> keys = Snapshot();
  auto key = keys->find(auth->access_key);
  // A rotated-out key whose grace has ended is unknown, as S3 says of a deleted key.
  if (key == keys->end() || (key->second.expires_ms != 0 && key->second.expires_ms <= now_ms)) {
    return MakeS3Error("InvalidAccessKeyId",
                       "The AWS Access Key Id you provided does not exist in our records");
  }
  if (auth->scope.region != options_.region) {
    return MakeS3Error("AuthorizationHeaderMalformed",
                       "the region '" + auth->scope.region.substr(0, 64) +
                           "' is wrong; expecting '" + options_.region + "'");
  }
  if (auth->scope.service != options_.service) {
    return MakeS3Error("AuthorizationHeaderMalformed",
                       "the service '" + auth->scope.service.substr(0, 64) + "' is wrong");
  }
  const auto& signed_names = auth->signed_headers;
  auto is_signed = [&](std::string_view n) {
    return std::find(signed_names.begin(), signed_names.end(), n) != signed_names.end();
  };

  // The request time: x-amz-date, else Date. Sent twice it is ambiguous (libcurl 7.88 does
  // that when an application sets it): S3 says AccessDenied.
  std::string date_header = request.HasHeader("x-amz-date") ? "x-amz-date" : "date";
  if (request.HeaderCount(date_header) > 1) {
    return MakeS3Error("AccessDenied", "The request date header was sent more than once");
  }
  std::string date_value = request.Header(date_header);
  int64_t request_ms =
      date_header == "x-amz-date" ? ParseAmzDate(date_value) : ParseHttpDate(date_value);
  if (date_value.empty() || request_ms <= 0) {
    return MakeS3Error("AccessDenied",
                       "AWS authentication requires a valid Date or x-amz-date header");
  }
  if (!is_signed(date_header)) {
    return MakeS3Error("AccessDenied", "The request date header must be signed");
  }
  if (!is_signed("host")) return MakeS3Error("AccessDenied", "The Host header must be signed");
  // S3's rule (generic SigV4 lets a token header go unsigned): an x-amz-* header outside the
  // signature could be added or changed by anyone on the path, and user metadata is stored
  // and served as if the device had sent it.
  for (const auto& [name, value] : request.headers) {
    std::string lower = AsciiLower(name);
    if (options_.service == "s3" && lower.starts_with("x-amz-") && !is_signed(lower)) {
      return MakeS3Error("AccessDenied",
                         "There were headers present in the request which were not signed: " +
                             lower.substr(0, 64));
    }
  }
  if (FormatAmzDate(request_ms).substr(0, 8) != auth->scope.date) {
    return MakeS3Error("SignatureDoesNotMatch",
                       "The credential date does not match the request date");
  }
  int64_t skew = now_ms - request_ms;
  if (skew > options_.max_skew.count() || -skew > options_.max_skew.count()) {
    return MakeS3Error(
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.");
  }

  std::string payload_hash;
  if (request.HasHeader("x-amz-content-sha256")) {
    payload_hash = request.Header("x-amz-content-sha256");
    if (payload_hash.starts_with("STREAMING-")) {
      return MakeS3Error("NotImplemented",
                         "aws-chunked uploads are not supported; send the body's SHA-256");
    }
    if (payload_hash == sigv4::kUnsignedPayload) {
      if (!options_.allow_unsigned_payload) {
        return MakeS3Error("AccessDenied", "UNSIGNED-PAYLOAD is not allowed here");
      }
    } else if (!IsLowerHex64(payload_hash)) {
      return MakeS3Error("InvalidArgument", "x-amz-content-sha256 must be a lowercase hex SHA-256");
    }
  } else if (options_.require_content_sha256) {
    return MakeS3Error("InvalidRequest",
                       "Missing required header for this request: x-amz-content-sha256");
  } else {
    payload_hash = generic_payload_hash;
  }
  if (HttpRequest::NameIs(request.Header("content-encoding"), "aws-chunked")) {
    return MakeS3Error("NotImplemented", "aws-chunked uploads are not supported");
  }

  sigv4::Request canonical_input{request.method, request.raw_path, request.raw_query,
                                 request.headers, payload_hash};
  auto creq = sigv4::CanonicalRequest(canonical_input, signed_names);
  if (!creq) return MakeS3Error("SignatureDoesNotMatch", creq.error().message());
  std::string sts = sigv4::StringToSign(date_value, auth->scope, *creq);
  std::string expected = sigv4::Signature(key->second.secret_key, auth->scope, sts);
  std::string given = AsciiLower(auth->signature);
  if (CRYPTO_memcmp(expected.data(), given.data(), expected.size()) != 0) {
    return MakeS3Error("SignatureDoesNotMatch",
                       "The request signature we calculated does not match the signature you "
                       "provided. Check your key and signing method.");
  }
  // Only after the signature: an unsigned guess learns nothing about which keys exist.
  if (key->second.disabled) {
    return MakeS3Error("AccessDenied", "The device of this access key is disabled");
  }
  out->device = key->second.device;
  out->payload_hash = payload_hash;
  out->request_time_ms = request_ms;
  return S3Error{};
}

}  // namespace granary::receiver
