// The status.json "runs" block: per run watcher, the last run seen and submitted per
// instrument, runs waiting for files, decreases (docs/runs.md).
#pragma once

#include <cjson/cJSON.h>

#include <vector>

#include "agent/outbox/run_watcher.h"

namespace granary {

cJSON* RunsJson(const std::vector<RunWatcherStats>& all);
void ParseRunsJson(const cJSON* block, std::vector<RunWatcherStats>& out);

}  // namespace granary
