// Logging to stderr with sd-daemon "<N>" priority prefixes, which journald turns into
// priorities; on a terminal (and JOURNAL_STREAM unset) "TIME level: " instead. One line per call;
// lines from different threads never interleave. Never pass a secret: nothing here masks.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace granary::log {

enum class Level { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// Lines above this level are dropped. Default kInfo.
void SetMaxLevel(Level level);
// By the config's name: error, warning, notice, info, debug (anything else: unchanged).
void SetMaxLevel(std::string_view name);
bool Enabled(Level level);
void Write(Level level, std::string_view line);

template <typename... Args>
void Error(fmt::format_string<Args...> f, Args&&... args) {
  Write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Warning(fmt::format_string<Args...> f, Args&&... args) {
  Write(Level::kWarning, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Notice(fmt::format_string<Args...> f, Args&&... args) {
  Write(Level::kNotice, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Info(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kInfo)) Write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void Debug(fmt::format_string<Args...> f, Args&&... args) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace granary::log
