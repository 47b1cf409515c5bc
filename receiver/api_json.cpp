#include "receiver/api_json.h"

#include <ctime>
#include <string_view>

#include "platform/handles.h"
#include "platform/strings.h"
#include "platform/utf8.h"

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

}  // namespace granary::receiver
