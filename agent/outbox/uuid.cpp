#include "agent/outbox/uuid.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <array>
#include <cstdlib>

namespace granary {

std::string NewUuidV4() {
  std::array<unsigned char, 16> b{};
  // Without randomness every UUID would collide; nothing sensible remains to do.
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) std::abort();
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  std::string hex;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) hex += '-';
    hex += fmt::format("{:02x}", b[i]);
  }
  return hex;
}

bool ValidUuid(std::string_view t) {
  if (t.size() != 36) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  const bool version_ok = t[14] >= '1' && t[14] <= '5';
  const bool variant_ok = t[19] == '8' || t[19] == '9' || t[19] == 'a' || t[19] == 'b';
  return version_ok && variant_ok;
}

}  // namespace granary
