#include "receiver/s3_body.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstdlib>

namespace granary::receiver {
namespace {

// Content-MD5 is base64 of the 16 digest bytes; returns lowercase hex or "".
std::string Base64Md5ToHex(const std::string& b64) {
  if (b64.size() != 24 || b64.compare(22, 2, "==") != 0) return "";
  unsigned char out[24];
  int n = EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(b64.data()), 24);
  if (n != 18) return "";
  return HexEncode(std::string_view(reinterpret_cast<const char*>(out), 16));
}

}  // namespace

std::string TooLargeMessage(uint64_t max_bytes) {
  return fmt::format("Your proposed upload exceeds the maximum allowed size of {} bytes",
                     max_bytes);
}

S3Error ReadBodyHeaders(const HttpRequest& request, uint64_t max_bytes, BodyHeaders* out) {
  std::string length = request.Header("content-length");
  if (!length.empty()) {
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(length.c_str(), &end, 10);
    if (errno != 0 || end == length.c_str() || *end != '\0') {
      return MakeS3Error("InvalidArgument", "Content-Length is not a number");
    }
    if (n > max_bytes) return MakeS3Error("EntityTooLarge", TooLargeMessage(max_bytes));
    out->has_length = true;
    out->length = n;
  } else if (!HttpRequest::NameIs(request.Header("transfer-encoding"), "chunked")) {
    return MakeS3Error("MissingContentLength", "You must provide the Content-Length HTTP header.");
  }
  if (request.HasHeader("content-md5")) {
    out->md5_hex = Base64Md5ToHex(request.Header("content-md5"));
    if (out->md5_hex.empty()) {
      return MakeS3Error("InvalidDigest", "The Content-MD5 you specified was invalid.");
    }
  }
  return S3Error{};
}

S3Error CheckBody(const StreamDigests& digest, const BodyHeaders& headers,
                  const VerifiedRequest& verified) {
  if (headers.has_length && digest.bytes != headers.length) {
    return MakeS3Error("IncompleteBody",
                       "You did not provide the number of bytes specified by the Content-Length "
                       "HTTP header");
  }
  if (verified.payload_hash != sigv4::kUnsignedPayload &&
      digest.sha256_hex != verified.payload_hash) {
    return MakeS3Error(
        "XAmzContentSHA256Mismatch",
        "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  if (!headers.md5_hex.empty() && digest.md5_hex != headers.md5_hex) {
    return MakeS3Error("BadDigest",
                       "The Content-MD5 you specified did not match what we received.");
  }
  return S3Error{};
}

}  // namespace granary::receiver
