// Raw text from a device, made safe to show in an error, a log line or the status JSON.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace granary {

// The first `max_bytes` of `raw` in double quotes, with control and non-ASCII bytes escaped
// so a hostile reply cannot forge log lines; a longer text gets "... (N bytes)" appended.
std::string QuoteRaw(std::string_view raw, size_t max_bytes);

}  // namespace granary
