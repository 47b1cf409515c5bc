// When the daemon may send systemd WATCHDOG=1. A ping means "the agent is making
// progress", not "a thread is alive": the proof is the scheduler's last tick
// (Scheduler::LastProgressNs), which stops moving when the scheduler hangs. Without that
// proof the daemon stays silent and systemd restarts the unit after WatchdogSec.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "agent/config.h"

namespace granary {

// The longest a healthy scheduler goes without a tick: the longest source interval plus
// that source's timeout, plus slack for a loaded machine. Zero when there are no sources
// (nothing can hang, so every ping is deserved).
std::chrono::nanoseconds ProgressDeadline(const std::vector<SourceConfig>& sources);

// True when progress at `last_progress_ns` (monotonic) is recent enough at `now_ns`.
bool ProgressIsRecent(int64_t now_ns, int64_t last_progress_ns, std::chrono::nanoseconds deadline);

}  // namespace granary
