#include "platform/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

namespace granary::log {
namespace {
std::atomic<int> g_max_level{static_cast<int>(Level::kInfo)};
}

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
  std::string out = fmt::format("<{}>{}\n", static_cast<int>(level), line);
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
