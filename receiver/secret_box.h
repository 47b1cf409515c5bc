// Device secrets at rest: AES-256-GCM (OpenSSL EVP) under a key kept in a file beside, not
// inside, the database, so a copy of the index alone (a backup, a replica's dump) does not
// give away any device's secret. Each box binds a context (the access key), so a sealed
// secret moved to another row no longer opens.
#pragma once

#include <string>
#include <string_view>

#include "platform/result.h"

namespace granary::receiver {

class SecretBox {
 public:
  static constexpr size_t kKeyBytes = 32;

  // The key in `path` (64 hex digits, mode 0600 or 0400). When the file is missing, a new
  // random key is written there with mode 0600 and `*created` is set; two processes racing
  // to create it end with the same key (O_EXCL, the loser reads the winner's).
  static Result<SecretBox> FromKeyFile(const std::string& path, bool* created);
  // `key`: kKeyBytes raw bytes.
  static Result<SecretBox> FromKey(std::string_view key);

  // hex(nonce | ciphertext | tag), a fresh random nonce each call.
  std::string Seal(std::string_view plaintext, std::string_view context) const;
  // An error when `sealed` was altered, sealed with another key or for another context.
  Result<std::string> Open(std::string_view sealed, std::string_view context) const;

 private:
  explicit SecretBox(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

// `n` bytes from the OpenSSL CSPRNG (aborts when it cannot be seeded: no key may be weak).
std::string RandomBytes(size_t n);

}  // namespace granary::receiver
