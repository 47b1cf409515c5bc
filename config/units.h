// The one parser for human durations ("250ms", "6s", "1h30m") and sizes ("512MiB", "10MB").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "platform/result.h"

namespace granary {

// Accepts one or more <integer><unit> groups, units ms, s, m, h, d. "0s" is valid;
// range checks belong to the caller. The error says what was expected.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Accepts <integer>[unit], units B, KB, MB, GB (powers of 1000) and KiB, MiB, GiB, TiB
// (powers of 1024); no unit means bytes.
Result<uint64_t> ParseSize(std::string_view text);

// Shortest exact rendering: 90000ms -> "1m30s", 1073741824 -> "1GiB".
std::string FormatDuration(std::chrono::milliseconds d);
std::string FormatSize(uint64_t bytes);
// For people, not files: "512 B", "2.2 MiB", "1 GiB" (one decimal, dropped when it is 0).
std::string HumanSize(uint64_t bytes);

}  // namespace granary
