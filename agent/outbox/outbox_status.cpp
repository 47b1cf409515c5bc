#include "agent/outbox/outbox_status.h"

#include <fmt/format.h>

#include "agent/json_fields.h"

namespace granary {

using namespace json_fields;

cJSON* OutboxJson(const std::vector<OutboxStatus>& outboxes) {
  cJSON* a = cJSON_CreateArray();
  for (const OutboxStatus& o : outboxes) {
    cJSON* j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", o.name.c_str());
    cJSON_AddStringToObject(j, "path", o.path.c_str());
    AddU(j, "taken", o.taken);
    AddU(j, "rejected", o.rejected);
    AddU(j, "waiting_quota", o.waiting_quota);
    AddU(j, "waiting_quota_bytes", o.waiting_quota_bytes);
    cJSON_AddStringToObject(j, "last_error", o.last_error.c_str());
    cJSON_AddStringToObject(j, "last_rejection", o.last_rejection.c_str());
    cJSON* kinds = cJSON_AddArrayToObject(j, "kinds");
    for (const OutboxKindStatus& k : o.kinds) {
      cJSON* kj = cJSON_CreateObject();
      cJSON_AddStringToObject(kj, "kind", k.kind.c_str());
      AddU(kj, "pending", k.pending);
      AddU(kj, "pending_bytes", k.pending_bytes);
      AddU(kj, "oldest_pending_ms", static_cast<uint64_t>(k.oldest_pending_ms));
      AddU(kj, "uploaded", k.uploaded);
      cJSON_AddItemToArray(kinds, kj);
    }
    cJSON_AddItemToArray(a, j);
  }
  return a;
}

std::vector<OutboxStatus> ParseOutboxJson(const cJSON* array) {
  std::vector<OutboxStatus> out;
  const cJSON* j = nullptr;
  cJSON_ArrayForEach(j, array) {
    OutboxStatus o;
    o.name = GetS(j, "name");
    o.path = GetS(j, "path");
    o.taken = GetU(j, "taken");
    o.rejected = GetU(j, "rejected");
    o.waiting_quota = GetU(j, "waiting_quota");
    o.waiting_quota_bytes = GetU(j, "waiting_quota_bytes");
    o.last_error = GetS(j, "last_error");
    o.last_rejection = GetS(j, "last_rejection");
    const cJSON* kj = nullptr;
    cJSON_ArrayForEach(kj, cJSON_GetObjectItemCaseSensitive(j, "kinds")) {
      OutboxKindStatus k;
      k.kind = GetS(kj, "kind");
      k.pending = GetU(kj, "pending");
      k.pending_bytes = GetU(kj, "pending_bytes");
      k.oldest_pending_ms = static_cast<int64_t>(GetU(kj, "oldest_pending_ms"));
      k.uploaded = GetU(kj, "uploaded");
      o.kinds.push_back(std::move(k));
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::string OutboxText(const std::vector<OutboxStatus>& outboxes) {
  std::string out;
  for (const OutboxStatus& o : outboxes) {
    out += fmt::format("outbox {} ({}): {} taken, {} rejected this run", o.name, o.path, o.taken,
                       o.rejected);
    if (o.waiting_quota > 0)
      out +=
          fmt::format("; {} waiting for quota ({} bytes)", o.waiting_quota, o.waiting_quota_bytes);
    if (!o.last_error.empty()) out += "; last error: " + o.last_error;
    out += "\n";
    for (const OutboxKindStatus& k : o.kinds)
      out += fmt::format("  kind {}: {} pending ({} bytes), {} uploaded\n", k.kind, k.pending,
                         k.pending_bytes, k.uploaded);
  }
  return out;
}

}  // namespace granary
