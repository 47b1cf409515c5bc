// RFC 4122 UUIDs as reports and files carry them: 36 characters of lowercase text.
#pragma once

#include <string>
#include <string_view>

namespace granary {

// A new random (version 4) UUID, lowercase.
std::string NewUuidV4();
// 8-4-4-4-12 lowercase hex digits with a version 1..5 and the RFC 4122 variant.
bool ValidUuid(std::string_view text);

}  // namespace granary
