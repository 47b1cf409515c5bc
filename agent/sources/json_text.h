// What a JSON parser would hide about a reply: bytes that are not UTF-8, a number no double
// holds (cJSON reads it as infinity and prints null), and a string's \u0000 (cJSON's strings
// end at the first NUL). A reading is stored as sent, or the poll fails saying why: its
// data is never changed silently.
#pragma once

#include <cjson/cJSON.h>

#include <string>
#include <string_view>

#include "platform/result.h"

namespace granary {

// Fails on the first byte that is not UTF-8, naming its offset.
Status CheckUtf8(std::string_view text);
// Fails on a number in `json` (as parsed) that no double holds, or an object with a key
// twice (which one a reader takes is up to the reader; the receiver refuses such a line).
Status CheckValues(const cJSON* json);
// True when a string in `text` holds the escape \u0000 (not "\\u0000", a backslash).
bool HasNulEscape(std::string_view text);
// `text` (one JSON value) on one line: whitespace (and any control byte, as cJSON reads
// them) outside strings removed, every other byte kept, so strings and numbers stay
// exactly as sent. A raw control byte inside a string (which JSON forbids) is an error.
Result<std::string> CompactJson(std::string_view text);

}  // namespace granary
