// Object keys from a template. Placeholders: {prefix} {device} {source} {yyyy} {mm}
// {dd} {hh} (the UTC hour of the segment's first reading) {first_seq} {last_seq} {ext}.
// {first_seq} is required: it makes a key unique and stable across retries and restarts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "platform/result.h"

namespace granary {

inline constexpr const char* kDefaultKeyTemplate =
    "{prefix}/{device}/{source}/{yyyy}/{mm}/{dd}/"
    "{device}-{source}-{yyyy}{mm}{dd}T{hh}-{first_seq}.{ext}";

struct KeyFields {
  std::string prefix, device, source, ext;
  int64_t first_ts_ms = 0;
  uint64_t first_seq = 0, last_seq = 0;
};

// Checks placeholders and that {first_seq} is present.
Status ValidateKeyTemplate(const std::string& key_template);
// Empty path segments (an empty prefix) are dropped: no leading or double slash.
std::string RenderKey(const std::string& key_template, const KeyFields& fields);

// The longest key prefix the template fixes for one source of a device: the template up to
// its first placeholder other than {prefix}, {device} and {source}, rendered.
std::string RenderKeyPrefix(const std::string& key_template, const KeyFields& fields);
// The UTC hour (ms since the epoch) of the first reading of the segment behind `key`, when
// the template has {yyyy}, {mm}, {dd} and {hh} and `key` is one of its keys for `fields`'
// prefix, device and source (`fields.source` empty: any source).
std::optional<int64_t> KeyHourMs(const std::string& key_template, const KeyFields& fields,
                                 const std::string& key);

// Keys of reports and files taken from an outbox (docs/outbox.md). Placeholders: {prefix}
// {device} {kind} {yyyy} {mm} {dd} (the UTC day it was taken) {uuid} {name}.
inline constexpr const char* kDefaultReportKeyTemplate =
    "{prefix}/{device}/reports/{kind}/{yyyy}/{mm}/{dd}/{uuid}.json";
inline constexpr const char* kDefaultFileKeyTemplate = "{prefix}/{device}/files/{uuid}/{name}";

struct OutboxKeyFields {
  std::string prefix, device, kind, uuid, name;
  int64_t taken_ms = 0;
};

// Checks placeholders, that {uuid} is present and, for a `file` template, {name}.
Status ValidateOutboxKeyTemplate(const std::string& key_template, bool file);
std::string RenderOutboxKey(const std::string& key_template, const OutboxKeyFields& fields);

}  // namespace granary
