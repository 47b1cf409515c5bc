// The health verdict: `running` or `degraded` with the reasons. An agent that looks
// healthy while forwarding nothing is the worst failure in this field, so every rule here
// looks at what happened (or did not), never only at the last attempt.
#pragma once

#include <cstdint>

#include "agent/status.h"

namespace granary {

// A source counts as failing once its last `kFailingPolls` polls all failed.
inline constexpr uint64_t kFailingPolls = 3;

// Fills state and degraded_reasons from the other fields:
// - a source failed its last kFailingPolls polls;
// - the buffer's last commit or seal failed, or the quota paused polling;
// - the state was found damaged at start (degraded for upload_stale_after_ms after);
// - the uploader cannot read the catalog;
// - the last upload failed with an error that waiting cannot fix (credentials, bucket);
// - a segment has waited longer than upload_stale_after_ms with no upload succeeding in
//   that time, whatever the last attempt was (none at all, or one still retrying).
void JudgeHealth(AgentStatus& status);

}  // namespace granary
