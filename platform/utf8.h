// UTF-8 checks for text that leaves the process: object keys, JSON Lines, XML and JSON
// answers. A byte that is not UTF-8 makes such a document unparsable for every reader, so
// input holding one is refused, and text we render is repaired rather than sent broken.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace granary {

// The length of the longest well-formed UTF-8 prefix of `s` (no overlongs, no
// surrogates, nothing above U+10FFFF): s.size() when all of it is.
size_t Utf8ValidBytes(std::string_view s);
inline bool IsValidUtf8(std::string_view s) { return Utf8ValidBytes(s) == s.size(); }
// `s` with every byte that is not part of a well-formed sequence replaced by U+FFFD.
std::string RepairUtf8(std::string_view s);
// At most `max_bytes` of `s`, never cutting a character.
std::string Utf8Prefix(std::string_view s, size_t max_bytes);

}  // namespace granary
