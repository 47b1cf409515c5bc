#include "receiver/key_check.h"

#include <string_view>

#include "platform/utf8.h"

namespace granary::receiver {

S3Error CheckObjectKey(const std::string& key) {
  if (key.empty()) return MakeS3Error("InvalidArgument", "The key is empty");
  if (key.size() > 1024) return MakeS3Error("KeyTooLongError", "Your key is too long");
  if (!IsValidUtf8(key)) {
    return MakeS3Error("InvalidObjectName", "Object key must be valid UTF-8");
  }
  for (unsigned char c : key) {
    if (c < 0x20 || c == 0x7f) {
      return MakeS3Error("InvalidArgument", "The key holds a NUL or control character");
    }
  }
  if (key.front() == '/')
    return MakeS3Error("InvalidArgument", "The key is absolute (leading '/')");
  size_t start = 0;
  for (;;) {
    size_t slash = key.find('/', start);
    std::string_view part = std::string_view(key).substr(
        start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty()) return MakeS3Error("InvalidArgument", "The key has an empty path segment");
    if (part == "." || part == "..") {
      return MakeS3Error("InvalidArgument", "The key has a \".\" or \"..\" path segment");
    }
    if (part.size() > 255) return MakeS3Error("KeyTooLongError", "A key path segment is too long");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return S3Error{};
}

}  // namespace granary::receiver
