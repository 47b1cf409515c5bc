// The read API's answers for the dashboard's views: downsampled series, coverage by hour,
// and the per-device summary of the fleet list (?summary=1). Bearer-checked by the caller.
#pragma once

#include <cjson/cJSON.h>

#include <string>

#include "receiver/context.h"

namespace granary::receiver {

// GET /api/v1/devices/{id}/series?source=&field=&from=&to=&points=
HttpResponse SeriesAnswer(ReceiverContext& context, const std::string& device,
                          const std::string& raw_query);
// GET /api/v1/devices/{id}/coverage/hours?source=&from=&hours=
HttpResponse HoursAnswer(ReceiverContext& context, const std::string& device,
                         const std::string& raw_query);
// Adds "unexplained_missing" (seqs, over all sources) and "readings_today" (readings of
// segments that began since midnight UTC) to a device's JSON; false with `error` set.
bool AddDeviceSummary(ReceiverContext& context, const std::string& device, int64_t now_ms,
                      cJSON* obj, std::string* error);

}  // namespace granary::receiver
