// JSON answers of the read API (api.cpp, messages_api.cpp).
#pragma once

#include <cjson/cJSON.h>

#include <cstdint>
#include <optional>
#include <string>

#include "receiver/http_server.h"

namespace granary::receiver {

HttpResponse Json(int status, const cJSON* json);
HttpResponse JsonError(int status, const std::string& message);
// "1732284006001" (ms) or "2024-11-22T14:00:06Z" / "2024-11-22T14:00:06.001Z".
std::optional<int64_t> ParseTime(const std::string& text);

}  // namespace granary::receiver
