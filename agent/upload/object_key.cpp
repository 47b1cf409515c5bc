#include "agent/upload/object_key.h"

#include <fmt/format.h>

#include <map>

#include "platform/time.h"

namespace granary {
namespace {

const char* const kNames[] = {"prefix", "device", "source",    "yyyy",     "mm",
                              "dd",     "hh",     "first_seq", "last_seq", "ext"};

bool Known(const std::string& name) {
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

}  // namespace

Status ValidateKeyTemplate(const std::string& t) {
  bool has_first_seq = false;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '}') return Error("unmatched '}' in key template");
    if (t[i] != '{') continue;
    size_t close = t.find('}', i);
    if (close == std::string::npos) return Error("unclosed '{' in key template");
    std::string name = t.substr(i + 1, close - i - 1);
    if (!Known(name)) {
      return Error("unknown placeholder {" + name +
                   "} in key template (known: prefix, device, source, yyyy, mm, dd, hh, "
                   "first_seq, last_seq, ext)");
    }
    has_first_seq |= name == "first_seq";
    i = close;
  }
  if (!has_first_seq) return Error("key template must contain {first_seq} so keys stay unique");
  return Status::Ok();
}

std::string RenderKey(const std::string& t, const KeyFields& f) {
  const std::tm tm = UtcCalendar(f.first_ts_ms);
  const std::map<std::string, std::string> values = {
      {"prefix", f.prefix},
      {"device", f.device},
      {"source", f.source},
      {"yyyy", fmt::format("{:04}", tm.tm_year + 1900)},
      {"mm", fmt::format("{:02}", tm.tm_mon + 1)},
      {"dd", fmt::format("{:02}", tm.tm_mday)},
      {"hh", fmt::format("{:02}", tm.tm_hour)},
      {"first_seq", std::to_string(f.first_seq)},
      {"last_seq", std::to_string(f.last_seq)},
      {"ext", f.ext},
  };
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    size_t close = t[i] == '{' ? t.find('}', i) : std::string::npos;
    if (close == std::string::npos) {
      out += t[i];
      continue;
    }
    auto it = values.find(t.substr(i + 1, close - i - 1));
    out += it == values.end() ? t.substr(i, close - i + 1) : it->second;
    i = close;
  }
  std::string clean;
  for (char c : out) {
    if (c == '/' && (clean.empty() || clean.back() == '/')) continue;
    clean += c;
  }
  return clean;
}

}  // namespace granary
