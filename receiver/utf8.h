// UTF-8 checks for what the receiver stores and echoes: keys, lines, XML and JSON text.
// A byte that is not UTF-8 makes a listing or an API answer unparsable for every client,
// so such input is refused, and text we render is repaired rather than sent broken.
#pragma once

#include <string>
#include <string_view>

namespace granary::receiver {

// Well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view s);
// `s` with every byte that is not part of a well-formed sequence replaced by U+FFFD.
std::string RepairUtf8(std::string_view s);
// At most `max_bytes` of `s`, never cutting a character.
std::string Utf8Prefix(std::string_view s, size_t max_bytes);

}  // namespace granary::receiver
