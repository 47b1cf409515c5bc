#include "receiver/api_json.h"

#include <algorithm>
#include <ctime>
#include <string_view>

#include "platform/handles.h"
#include "platform/strings.h"
#include "platform/utf8.h"
#include "receiver/http_request.h"

namespace granary::receiver {

HttpResponse Json(int status, const cJSON* json) {
  CjsonString text(cJSON_PrintUnformatted(json));
  return HttpResponse::Text(status, RepairUtf8(text.get()) + "\n", kJsonType);
}

HttpResponse JsonError(int status, const std::string& message) {
  CjsonPtr obj(cJSON_CreateObject());
  cJSON_AddStringToObject(obj.get(), "error", message.c_str());
  return Json(status, obj.get());
}

void AddNumber(cJSON* obj, const char* name, double v) { cJSON_AddNumberToObject(obj, name, v); }

std::optional<int64_t> ParseTime(const std::string& text) {
  if (text.empty()) return std::nullopt;
  if (std::optional<int64_t> ms = ParseDecimal<int64_t>(text)) return ms;
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  if (*rest == '.') {
    int digits = 0, frac = 0;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest) {
      if (digits < 3) frac = frac * 10 + (*rest - '0'), ++digits;
    }
    while (digits < 3) frac *= 10, ++digits;
    ms += frac;
  }
  if (std::string_view(rest) != "Z") return std::nullopt;
  return ms;
}

std::optional<PageQuery> ParsePageQuery(const std::string& raw_query, int default_limit,
                                        int max_limit, bool (*valid_id)(std::string_view),
                                        std::string* error) {
  PageQuery q;
  std::string from = QueryParam(raw_query, "from"), to = QueryParam(raw_query, "to");
  q.from_ms = ParseTime(from);
  q.to_ms = ParseTime(to);
  if ((!from.empty() && !q.from_ms) || (!to.empty() && !q.to_ms)) {
    *error = "from/to must be ms since the epoch or YYYY-MM-DDTHH:MM:SS[.mmm]Z";
    return std::nullopt;
  }
  std::string cursor = QueryParam(raw_query, "cursor");
  if (!cursor.empty()) {
    size_t dot = cursor.find('.');
    auto time = ParseDecimal<int64_t>(cursor.substr(0, dot));
    if (dot == std::string::npos || !time || !valid_id(cursor.substr(dot + 1))) {
      *error = "cursor must be a next_cursor of an earlier answer";
      return std::nullopt;
    }
    q.after.emplace(*time, cursor.substr(dot + 1));
  }
  q.limit = std::clamp(ParseDecimal<int>(QueryParam(raw_query, "limit")).value_or(default_limit), 1,
                       max_limit);
  return q;
}

std::string NextCursor(int64_t time, const std::string& id) {
  return std::to_string(time) + "." + id;
}

}  // namespace granary::receiver
