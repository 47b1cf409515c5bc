// UTC calendar times as text, both ways. Wall-clock ms since the epoch is the project's one
// time type; these are the formats it meets on the wire and in files.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace granary {

// The UTC calendar fields of `ms` (before the epoch: the epoch).
std::tm UtcCalendar(int64_t ms);
// `ms` as UTC through strftime(`format`); at most 63 characters.
std::string FormatUtc(int64_t ms, const char* format);

// "2015-08-30T12:36:00Z" (ISO 8601, whole seconds).
std::string FormatIso8601(int64_t ms);
// "2015-08-30T12:36:00.123Z", as S3 listings print LastModified.
std::string FormatIso8601Millis(int64_t ms);
// SigV4's x-amz-date, "20150830T123600Z", and its scope date, "20150830".
std::string FormatAmzDate(int64_t ms);
std::string FormatAmzDay(int64_t ms);
// RFC 7231 IMF-fixdate, "Sun, 30 Aug 2015 12:36:00 GMT" (Date, Last-Modified).
std::string FormatHttpDate(int64_t ms);

// "20150830T123600Z" -> ms since the epoch; -1 when malformed.
int64_t ParseAmzDate(std::string_view text);
// An RFC 7231 IMF-fixdate -> ms since the epoch; 0 when unparsable.
int64_t ParseHttpDate(std::string_view text);

}  // namespace granary
