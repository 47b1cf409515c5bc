// What the read API's handlers share: JSON answers and the time parameters' syntax.
#pragma once

#include <cjson/cJSON.h>

#include <cstdint>
#include <optional>
#include <string>

#include "receiver/http_server.h"

namespace granary::receiver {

inline constexpr const char* kJsonType = "application/json";

// Always valid JSON: cJSON copies string bytes as they are, so the text is UTF-8 repaired.
HttpResponse Json(int status, const cJSON* json);
HttpResponse JsonError(int status, const std::string& message);
void AddNumber(cJSON* obj, const char* name, double v);

// "1732284006001" (ms) or "2024-11-22T14:00:06Z" / "2024-11-22T14:00:06.001Z".
std::optional<int64_t> ParseTime(const std::string& text);

}  // namespace granary::receiver
