#include "agent/sources/json_text.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "platform/utf8.h"

namespace granary {

Status CheckUtf8(std::string_view text) {
  size_t valid = Utf8ValidBytes(text);
  if (valid == text.size()) return Status::Ok();
  return Error(fmt::format("not UTF-8 at byte {} (0x{:02x})", valid,
                           static_cast<unsigned char>(text[valid])));
}

Status CheckValues(const cJSON* json) {
  if (cJSON_IsNumber(json) && !std::isfinite(json->valuedouble)) {
    return Error("a number out of range (no double holds it)");
  }
  std::set<std::string_view> keys;
  for (const cJSON* c = json != nullptr ? json->child : nullptr; c != nullptr; c = c->next) {
    if (cJSON_IsObject(json) && c->string != nullptr && !keys.insert(c->string).second) {
      return Error(fmt::format("the key \"{}\" twice in one object", c->string));
    }
    if (Status s = CheckValues(c); !s) return s;
  }
  return Status::Ok();
}

bool HasNulEscape(std::string_view text) {
  for (size_t at = text.find("u0000"); at != std::string_view::npos;
       at = text.find("u0000", at + 1)) {
    size_t slashes = 0;
    while (slashes < at && text[at - 1 - slashes] == '\\') ++slashes;
    if (slashes % 2 == 1) return true;  // an escaping backslash, not an escaped one
  }
  return false;
}

Result<std::string> CompactJson(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      // JSON forbids them raw; kept, a newline would split the JSON Lines line.
      if (static_cast<unsigned char>(c) < ' ') {
        return Error(fmt::format("a raw control byte (0x{:02x}) inside a string at byte {}",
                                 static_cast<unsigned char>(c), i));
      }
      out += c;
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out += c;
    } else if (static_cast<unsigned char>(c) > ' ') {
      // cJSON skips every control byte between tokens, not only JSON's four spaces; they
      // go too, so the line is JSON to a strict reader as well.
      out += c;
    }
  }
  return out;
}

}  // namespace granary
