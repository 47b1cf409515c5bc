// What the read API's handlers share: JSON answers and the time parameters' syntax.
#pragma once

#include <cjson/cJSON.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "receiver/http_server.h"

namespace granary::receiver {

inline constexpr const char* kJsonType = "application/json";

// Always valid JSON: cJSON copies string bytes as they are, so the text is UTF-8 repaired.
HttpResponse Json(int status, const cJSON* json);
HttpResponse JsonError(int status, const std::string& message);
void AddNumber(cJSON* obj, const char* name, double v);

// "1732284006001" (ms) or "2024-11-22T14:00:06Z" / "2024-11-22T14:00:06.001Z".
std::optional<int64_t> ParseTime(const std::string& text);

// The query of a paged list in (time, id) order: from=, to=, limit= and cursor= (the
// "{time}.{id}" of an earlier answer's next_cursor; `valid_id` checks its id).
struct PageQuery {
  std::optional<int64_t> from_ms, to_ms;
  std::optional<std::pair<int64_t, std::string>> after;
  int limit = 0;
};
// nullopt with `*error` (the 400 answer's message) when a parameter is malformed.
std::optional<PageQuery> ParsePageQuery(const std::string& raw_query, int default_limit,
                                        int max_limit, bool (*valid_id)(std::string_view),
                                        std::string* error);
std::string NextCursor(int64_t time, const std::string& id);

}  // namespace granary::receiver
