#include "agent/upload/object_key.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <regex>
#include <string_view>
#include <vector>

#include "platform/time.h"

namespace granary {
namespace {

const std::vector<std::string> kSegmentNames = {"prefix", "device", "source",    "yyyy",     "mm",
                                                "dd",     "hh",     "first_seq", "last_seq", "ext"};
const std::vector<std::string> kOutboxNames = {"prefix", "device", "kind", "yyyy",
                                               "mm",     "dd",     "uuid", "name"};

// The placeholders a key template uses, in order; an error for an unmatched brace or a name
// not in `known`.
Result<std::vector<std::string>> Placeholders(const std::string& t,
                                              const std::vector<std::string>& known) {
  std::vector<std::string> used;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '}') return Error("unmatched '}' in key template");
    if (t[i] != '{') continue;
    size_t close = t.find('}', i);
    if (close == std::string::npos) return Error("unclosed '{' in key template");
    std::string name = t.substr(i + 1, close - i - 1);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return Error(fmt::format("unknown placeholder {{{}}} in key template (known: {})", name,
                               fmt::join(known, ", ")));
    }
    used.push_back(std::move(name));
    i = close;
  }
  return used;
}

bool Uses(const std::vector<std::string>& used, const char* name) {
  return std::find(used.begin(), used.end(), name) != used.end();
}

// Drops empty path segments, as an empty {prefix} leaves them: no leading or double slash.
std::string CollapseSlashes(const std::string& text) {
  std::string clean;
  for (char c : text) {
    if (c == '/' && (clean.empty() || clean.back() == '/')) continue;
    clean += c;
  }
  return clean;
}

// The template with each known placeholder replaced by its value.
std::string Fill(const std::string& t, const std::map<std::string, std::string>& values) {
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
  return CollapseSlashes(out);
}

}  // namespace

Status ValidateOutboxKeyTemplate(const std::string& t, bool file) {
  auto used = Placeholders(t, kOutboxNames);
  if (!used) return used.error();
  if (!Uses(*used, "uuid")) return Error("key template must contain {uuid} so keys stay unique");
  if (file && !Uses(*used, "name")) return Error("file key template must contain {name}");
  return Status::Ok();
}

std::string RenderOutboxKey(const std::string& t, const OutboxKeyFields& f) {
  const std::tm tm = UtcCalendar(f.taken_ms);
  return Fill(t, {{"prefix", f.prefix},
                  {"device", f.device},
                  {"kind", f.kind},
                  {"yyyy", fmt::format("{:04}", tm.tm_year + 1900)},
                  {"mm", fmt::format("{:02}", tm.tm_mon + 1)},
                  {"dd", fmt::format("{:02}", tm.tm_mday)},
                  {"uuid", f.uuid},
                  {"name", f.name}});
}

Status ValidateKeyTemplate(const std::string& t) {
  auto used = Placeholders(t, kSegmentNames);
  if (!used) return used.error();
  if (!Uses(*used, "first_seq"))
    return Error("key template must contain {first_seq} so keys stay unique");
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
  return Fill(t, values);
}

std::string RenderKeyPrefix(const std::string& t, const KeyFields& f) {
  size_t end = 0;
  while ((end = t.find('{', end)) != std::string::npos) {
    const size_t close = t.find('}', end);
    if (close == std::string::npos) break;
    const std::string name = t.substr(end + 1, close - end - 1);
    if (name != "prefix" && name != "device" && name != "source") break;
    end = close + 1;
  }
  return RenderKey(t.substr(0, end == std::string::npos ? t.size() : end), f);
}

std::optional<int64_t> KeyHourMs(const std::string& t, const KeyFields& f, const std::string& key) {
  // The template as a pattern: the known fields filled in, literals escaped and their
  // slashes collapsed as RenderKey collapses them, each other placeholder a group.
  std::string literal, pattern;
  std::map<std::string, size_t> group;  // a placeholder's first group
  size_t groups = 0;
  char last = 0;  // the last character a key of this shape has so far; 0: none
  auto flush = [&] {
    for (char c : literal) {
      if (c == '/' && (last == 0 || last == '/')) continue;
      if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) pattern += '\\';
      pattern += c;
      last = c;
    }
    literal.clear();
  };
  for (size_t i = 0; i < t.size(); ++i) {
    const size_t close = t[i] == '{' ? t.find('}', i) : std::string::npos;
    if (close == std::string::npos) {
      literal += t[i];
      continue;
    }
    const std::string name = t.substr(i + 1, close - i - 1);
    i = close;
    if (name == "prefix" || name == "device" || (name == "source" && !f.source.empty())) {
      literal += name == "prefix" ? f.prefix : name == "device" ? f.device : f.source;
      continue;
    }
    flush();
    if (name == "yyyy") {
      pattern += "([0-9]{4})";
    } else if (name == "mm" || name == "dd" || name == "hh") {
      pattern += "([0-9]{2})";
    } else {
      pattern += "(.+?)";
    }
    group.emplace(name, ++groups);
    last = '?';  // a placeholder is never empty
  }
  flush();
  for (const char* need : {"yyyy", "mm", "dd", "hh"}) {
    if (!group.contains(need)) return std::nullopt;
  }
  std::smatch m;
  if (!std::regex_match(key, m, std::regex(pattern))) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[group["yyyy"]].str()) - 1900;
  tm.tm_mon = std::stoi(m[group["mm"]].str()) - 1;
  tm.tm_mday = std::stoi(m[group["dd"]].str());
  tm.tm_hour = std::stoi(m[group["hh"]].str());
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

}  // namespace granary
