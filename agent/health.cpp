#include "agent/health.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "platform/time.h"

namespace granary {
namespace {

// Reasons name moments, not durations: a reason that changes with every snapshot would
// make each one a change of state, republished and rewritten every few seconds.
std::string At(int64_t ms) { return FormatIso8601(ms); }

void JudgeUploads(AgentStatus& s) {
  const UploadStats& u = s.uploads;
  if (!s.uploads_enabled) return;
  if (!u.catalog_error.empty()) {
    s.degraded_reasons.push_back("uploader cannot read the catalog: " + u.catalog_error);
  }
  if (s.buffer.segments_sealed == 0) return;
  if (u.last_error_ms > u.last_ok_ms && u.last_error_permanent) {
    s.degraded_reasons.push_back("uploads failing: " + u.last_error);
    return;
  }
  // Waiting since the later of: the last success, this run's start (a backlog found at
  // start gets its chance), and the oldest waiting segment's seal.
  int64_t since = std::max({u.last_ok_ms, s.started_ms, s.buffer.oldest_pending_sealed_ms});
  if (since > 0 && s.updated_ms - since > s.upload_stale_after_ms) {
    std::string why = u.last_error_ms > u.last_ok_ms ? u.last_error : "no attempt succeeded";
    s.degraded_reasons.push_back(
        fmt::format("segments waiting, no upload since {}: {}", At(since), why));
  }
}

}  // namespace

void JudgeHealth(AgentStatus& s) {
  s.degraded_reasons.clear();
  for (const SourceStats& src : s.sources) {
    if (src.consecutive_failures >= kFailingPolls) {
      s.degraded_reasons.push_back(fmt::format("source {} failed its last {} polls: {}", src.name,
                                               src.consecutive_failures, src.last_error));
    }
  }
  const BufferStats& b = s.buffer;
  if (!b.last_error.empty()) s.degraded_reasons.push_back("buffer: " + b.last_error);
  if (b.paused) s.degraded_reasons.push_back("polling paused: state dir quota full");
  if (b.last_state_loss_ms > 0 && s.updated_ms - b.last_state_loss_ms < s.upload_stale_after_ms) {
    s.degraded_reasons.push_back(
        fmt::format("state lost at {}: {}; {} seqs possibly lost (see drops)",
                    At(b.last_state_loss_ms), b.last_state_loss, b.possibly_lost));
  }
  JudgeUploads(s);
  if (s.state != "stopped") s.state = s.degraded_reasons.empty() ? "running" : "degraded";
}

}  // namespace granary
