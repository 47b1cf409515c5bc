#include "platform/time.h"

#include <fmt/format.h>

namespace granary {

std::tm UtcCalendar(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : 0);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return tm;
}

std::string FormatUtc(int64_t ms, const char* format) {
  std::tm tm = UtcCalendar(ms);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

std::string FormatIso8601(int64_t ms) { return FormatUtc(ms, "%Y-%m-%dT%H:%M:%SZ"); }

std::string FormatIso8601Millis(int64_t ms) {
  return fmt::format("{}.{:03d}Z", FormatUtc(ms, "%Y-%m-%dT%H:%M:%S"),
                     static_cast<int>(ms >= 0 ? ms % 1000 : 0));
}

std::string FormatAmzDate(int64_t ms) { return FormatUtc(ms, "%Y%m%dT%H%M%SZ"); }

std::string FormatAmzDay(int64_t ms) { return FormatUtc(ms, "%Y%m%d"); }

std::string FormatHttpDate(int64_t ms) { return FormatUtc(ms, "%a, %d %b %Y %H:%M:%S GMT"); }

int64_t ParseAmzDate(std::string_view t) {
  if (t.size() != 16 || t[8] != 'T' || t[15] != 'Z') return -1;
  for (size_t i = 0; i < 15; ++i) {
    if (i != 8 && (t[i] < '0' || t[i] > '9')) return -1;
  }
  auto num = [&](size_t pos, size_t len) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) v = v * 10 + (t[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return -1;
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

int64_t ParseHttpDate(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  // strptime's %a and %b read English names only in the C locale, which the programs keep.
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr) return 0;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

}  // namespace granary
