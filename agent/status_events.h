// The events a change of status implies, for {prefix}/{device}/events. They are derived
// by comparing two status snapshots rather than raised inside the buffer, scheduler or
// uploader, so those modules stay unaware of MQTT and no event is raised under their locks.
// Payloads are one JSON object each: {"device","ts","type",...}; docs/formats.md lists them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/status.h"

namespace granary {

// `ts_ms`: wall clock stamped on every event.
std::string StartEventJson(const std::string& device, int64_t ts_ms, int64_t pid);
std::string StopEventJson(const std::string& device, int64_t ts_ms, const std::string& reason);

// Events between `before` and `after`, in a fixed order: uploads, failed uploads, drops,
// errors, recoveries, pause changes.
std::vector<std::string> StatusEvents(const AgentStatus& before, const AgentStatus& after,
                                      int64_t ts_ms);

}  // namespace granary
