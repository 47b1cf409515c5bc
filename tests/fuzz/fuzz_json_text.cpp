// http_json's checks of a reply: never crash; a body that parses compacts to JSON that still
// parses to the same tree, and compacting is idempotent; the UTF-8 check agrees with the
// byte count it reports.
#include <cjson/cJSON.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "agent/sources/json_text.h"
#include "platform/handles.h"
#include "platform/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  const bool utf8 = granary::CheckUtf8(body).ok();
  if (utf8 != (granary::Utf8ValidBytes(body) == body.size())) std::abort();
  (void)granary::HasNulEscape(body);
  // As http_json accepts a body: one value, nothing after it but JSON whitespace.
  const char* end = nullptr;
  granary::CjsonPtr parsed(cJSON_ParseWithLengthOpts(body.data(), body.size(), &end, false));
  if (!parsed || !utf8) return 0;
  if (body.find_first_not_of(" \t\r\n", static_cast<size_t>(end - body.data())) !=
      std::string::npos) {
    return 0;
  }
  // A key twice fails the poll; cJSON_Compare could not tell such trees apart anyway.
  if (!granary::CheckValues(parsed.get()).ok()) return 0;
  auto compacted = granary::CompactJson(body);
  if (!compacted) return 0;
  const std::string& compact = *compacted;
  auto twice = granary::CompactJson(compact);
  if (!twice || *twice != compact) std::abort();
  for (char c : compact) {
    if (c == '\n') std::abort();  // one JSON Lines line, whatever the body held
  }
  granary::CjsonPtr again(cJSON_ParseWithLength(compact.data(), compact.size()));
  if (!again || !cJSON_Compare(parsed.get(), again.get(), /*case_sensitive=*/true)) std::abort();
  return 0;
}
