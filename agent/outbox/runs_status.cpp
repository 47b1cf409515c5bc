#include "agent/outbox/runs_status.h"

#include <string>

#include "agent/json_fields.h"

namespace granary {

using namespace json_fields;

cJSON* RunsJson(const std::vector<RunWatcherStats>& all) {
  cJSON* list = cJSON_CreateArray();
  for (const RunWatcherStats& w : all) {
    cJSON* j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", w.name.c_str());
    AddU(j, "submitted", w.submitted);
    AddU(j, "submitted_with_missing_files", w.missing);
    cJSON_AddStringToObject(j, "last_error", w.error.c_str());
    cJSON* instruments = cJSON_AddArrayToObject(j, "instruments");
    for (const RunInstrumentStats& i : w.instruments) {
      cJSON* k = cJSON_CreateObject();
      cJSON_AddStringToObject(k, "instrument", i.instrument.c_str());
      AddU(k, "last_seen", i.last_seen);
      AddU(k, "last_submitted", i.last_submitted);
      AddU(k, "pending", i.pending);
      AddU(k, "decreases", i.decreases);
      AddU(k, "last_decrease_from", i.last_decrease_from);
      AddU(k, "last_decrease_to", i.last_decrease_to);
      cJSON_AddItemToArray(instruments, k);
    }
    cJSON_AddItemToArray(list, j);
  }
  return list;
}

void ParseRunsJson(const cJSON* block, std::vector<RunWatcherStats>& out) {
  const cJSON* w = nullptr;
  cJSON_ArrayForEach(w, block) {
    RunWatcherStats s;
    s.name = GetS(w, "name");
    s.submitted = GetU(w, "submitted");
    s.missing = GetU(w, "submitted_with_missing_files");
    s.error = GetS(w, "last_error");
    const cJSON* i = nullptr;
    cJSON_ArrayForEach(i, cJSON_GetObjectItemCaseSensitive(w, "instruments")) {
      RunInstrumentStats k;
      k.instrument = GetS(i, "instrument");
      k.last_seen = GetU(i, "last_seen");
      k.last_submitted = GetU(i, "last_submitted");
      k.pending = GetU(i, "pending");
      k.decreases = GetU(i, "decreases");
      k.last_decrease_from = GetU(i, "last_decrease_from");
      k.last_decrease_to = GetU(i, "last_decrease_to");
      s.instruments.push_back(std::move(k));
    }
    out.push_back(std::move(s));
  }
}

}  // namespace granary
