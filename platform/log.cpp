#include "platform/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>

#include "platform/time.h"

namespace granary::log {
namespace {
std::atomic<int> g_max_level{static_cast<int>(Level::kInfo)};

// journald (JOURNAL_STREAM set) and pipes get "<N>" prefixes and add their own time; a
// person at a terminal gets the time and the level's name instead.
bool ForPeople() {
  static const bool tty = ::isatty(STDERR_FILENO) == 1 && std::getenv("JOURNAL_STREAM") == nullptr;
  return tty;
}

std::string_view Name(Level level) {
  switch (level) {
    case Level::kError:
      return "error";
    case Level::kWarning:
      return "warning";
    case Level::kNotice:
      return "notice";
    case Level::kInfo:
      return "info";
    default:
      return "debug";
  }
}

}  // namespace

void SetMaxLevel(Level level) { g_max_level.store(static_cast<int>(level)); }

void SetMaxLevel(std::string_view name) {
  if (name == "error") SetMaxLevel(Level::kError);
  if (name == "warning") SetMaxLevel(Level::kWarning);
  if (name == "notice") SetMaxLevel(Level::kNotice);
  if (name == "info") SetMaxLevel(Level::kInfo);
  if (name == "debug") SetMaxLevel(Level::kDebug);
}

bool Enabled(Level level) { return static_cast<int>(level) <= g_max_level.load(); }

void Write(Level level, std::string_view line) {
  if (!Enabled(level)) return;
  std::string out;
  if (ForPeople()) {
    int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    out = fmt::format("{} {}: {}\n", FormatIso8601Millis(now_ms), Name(level), line);
  } else {
    out = fmt::format("<{}>{}\n", static_cast<int>(level), line);
  }
  // One write(2) per line keeps lines whole between threads; stderr may be a pipe.
  const char* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace granary::log
