// MD5 and SHA-256 of a byte stream computed together (S3 wants both: Content-MD5/ETag and
// x-amz-content-sha256), and lowercase hex.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace granary::receiver {

std::string LowerHex(std::string_view bytes);

struct BodyDigest {
  uint64_t size = 0;
  std::string md5_hex;
  std::string sha256_hex;
};

class StreamDigest {
 public:
  // `with_md5` false: SHA-256 only.
  explicit StreamDigest(bool with_md5 = true);
  void Update(std::string_view data);
  BodyDigest Finish();

 private:
  using Ctx = std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)>;
  Ctx md5_, sha256_;
  uint64_t size_ = 0;
};

}  // namespace granary::receiver
