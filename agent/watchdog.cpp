#include "agent/watchdog.h"

#include <algorithm>

namespace granary {
namespace {

// A tick can come late when the machine is busy (a seal compressing, a slow SD card).
constexpr std::chrono::seconds kSlack{5};

}  // namespace

std::chrono::nanoseconds ProgressDeadline(const std::vector<SourceConfig>& sources) {
  std::chrono::nanoseconds longest{0};
  for (const SourceConfig& s : sources)
    longest = std::max<std::chrono::nanoseconds>(longest, s.interval + s.timeout);
  return longest.count() == 0 ? longest : longest + kSlack;
}

bool ProgressIsRecent(int64_t now_ns, int64_t last_progress_ns, std::chrono::nanoseconds deadline) {
  if (deadline.count() == 0) return true;
  return now_ns - last_progress_ns <= deadline.count();
}

}  // namespace granary
