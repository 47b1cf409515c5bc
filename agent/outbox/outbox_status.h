// The outbox block of status.json, `granary status`, MQTT status and metrics.
#pragma once

#include <cjson/cJSON.h>

#include <cstdint>
#include <string>
#include <vector>

namespace granary {

struct OutboxKindStatus {
  std::string kind;
  uint64_t pending = 0, pending_bytes = 0, uploaded = 0;
  int64_t oldest_pending_ms = 0;  // when the oldest waiting entry was taken; 0: none
};

struct OutboxStatus {
  std::string name, path;
  uint64_t taken = 0, rejected = 0;  // this run
  // Entries left in place because taking them would go over the quota, at the last look.
  uint64_t waiting_quota = 0, waiting_quota_bytes = 0;
  std::string last_error;      // the last entry that could not be taken (it stays)
  std::string last_rejection;  // "PATH: reason" of the last entry moved to .rejected/
  std::vector<OutboxKindStatus> kinds;
};

cJSON* OutboxJson(const std::vector<OutboxStatus>& outboxes);
std::vector<OutboxStatus> ParseOutboxJson(const cJSON* array);
// Lines for `granary status`.
std::string OutboxText(const std::vector<OutboxStatus>& outboxes);

}  // namespace granary
