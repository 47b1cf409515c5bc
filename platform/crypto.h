// Digests and encodings over OpenSSL, in one place so every module hashes and prints hashes
// the same way: S3 compares our hex digests byte for byte (Content-MD5, ETag,
// x-amz-content-sha256), and the receiver recomputes them.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "platform/result.h"

namespace granary {

// Lowercase hex of raw bytes.
std::string HexEncode(std::string_view bytes);
// The bytes of an even-length hex string (either case); an error on anything else.
Result<std::string> HexDecode(std::string_view hex);
// Standard base64 with padding (Content-MD5 wants the raw digest in base64).
std::string Base64Encode(std::string_view bytes);

// Hex digests of `data`.
std::string Md5Hex(std::string_view data);
std::string Sha256Hex(std::string_view data);
// Raw (not hex) HMAC-SHA256: SigV4 chains these as keys.
std::string HmacSha256(std::string_view key, std::string_view data);

struct StreamDigests {
  uint64_t bytes = 0;
  std::string md5_hex;  // empty when the hasher was made without MD5
  std::string sha256_hex;
};

// MD5 and SHA-256 of a stream fed in pieces, computed in one pass: an object is hashed
// while it is written or read, never re-read to hash it.
class StreamHasher {
 public:
  // `with_md5` false: SHA-256 only (MD5 costs as much again).
  explicit StreamHasher(bool with_md5 = true);
  void Update(std::string_view data);
  // Ends both digests; the hasher is spent afterwards.
  StreamDigests Finish();

 private:
  using Ctx = std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)>;
  Ctx md5_, sha256_;
  uint64_t bytes_ = 0;
};

}  // namespace granary
