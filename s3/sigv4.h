// AWS Signature Version 4 for S3 (header auth): the canonical request, the string to
// sign and the signature. One implementation serves the agent's signer and the
// receiver's verifier, so both agree byte for byte with S3's rules:
// - the path is percent-decoded and re-encoded once (RFC 3986 unreserved kept, '/' kept,
//   uppercase hex), never normalised ("//" and ".." stay);
// - query pairs are decoded, re-encoded (with '/' encoded), sorted by key then value,
//   and every pair gets '=' even when valueless;
// - header names are lowercased, values trimmed with inner runs of spaces collapsed,
//   repeated headers joined with ',' in order, names sorted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/result.h"

namespace granary::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;
  std::string path;          // as on the wire: percent-encoded, no query
  std::string query;         // as on the wire, without '?'
  Headers headers;           // as sent, in order; names in any case
  std::string payload_hash;  // hex SHA-256 of the body, or UNSIGNED-PAYLOAD
};

struct Scope {
  std::string date;     // YYYYMMDD
  std::string region;   // us-east-1
  std::string service;  // s3
  std::string String() const { return date + "/" + region + "/" + service + "/aws4_request"; }
};

// RFC 3986 percent-encoding of bytes: unreserved (A-Z a-z 0-9 - . _ ~) kept, '/' kept
// unless `encode_slash`, everything else %XX in uppercase.
std::string UriEncode(std::string_view bytes, bool encode_slash);
// Percent-decoding; fails on a '%' not followed by two hex digits.
Result<std::string> UriDecode(std::string_view text);

Result<std::string> CanonicalUri(std::string_view wire_path);
Result<std::string> CanonicalQuery(std::string_view wire_query);

// `signed_headers` lowercase, any order; every one must be present in `request`.
Result<std::string> CanonicalRequest(const Request& request,
                                     const std::vector<std::string>& signed_headers);
std::string StringToSign(std::string_view amz_date, const Scope& scope,
                         std::string_view canonical_request);
// Hex HMAC-SHA256 signature of `string_to_sign` with the key derived from `secret`.
std::string Signature(std::string_view secret, const Scope& scope, std::string_view string_to_sign);

// The lowercase names of `headers`, sorted and deduplicated: what a signer signs.
std::vector<std::string> HeaderNames(const Headers& headers);

// A parsed "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/s3/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=hex" header.
struct Authorization {
  std::string access_key;
  Scope scope;
  std::vector<std::string> signed_headers;
  std::string signature;
};
Result<Authorization> ParseAuthorization(std::string_view header);
std::string FormatAuthorization(std::string_view access_key, const Scope& scope,
                                const std::vector<std::string>& signed_headers,
                                std::string_view signature);

}  // namespace granary::sigv4
