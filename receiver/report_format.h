// Reports and files as the agent uploads them (docs/formats.md "Reports and files"):
//   {prefix}/{device}/reports/{kind}/{yyyy}/{mm}/{dd}/{uuid}.json  one JSON object
//   {prefix}/{device}/files/{uuid}/{name}                          any bytes
// Pure functions of text, so the fuzz target runs exactly what ingest runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace granary::receiver {

// One attachment a report lists in "files".
struct ReportAttachment {
  std::string name;
  std::optional<uint64_t> size;
  std::string sha256;  // lowercase hex, "" when not given
};

struct ReportFacts {
  std::string device, kind, uuid;
  std::string fields_json;  // the whole object, compact: its top-level fields are indexed
  std::vector<ReportAttachment> files;
};

struct FileFacts {
  std::string device, uuid, name, kind;  // kind: the metadata's, "" when none
};

enum class KeyShape { kOther, kReport, kFile };

// What the part of a key after {prefix}/{device}/ says. A key under reports/ or files/ that
// does not have the whole shape is still that shape, with `problem` saying what is wrong.
struct KeyParts {
  KeyShape shape = KeyShape::kOther;
  std::string kind, uuid, name;
  std::string problem;
};
KeyParts ParseKeyShape(std::string_view rest);

// RFC 4122 text: 36 characters, lowercase hex, version 1-5, variant 10xx.
bool IsUuidText(std::string_view s);
// [a-z0-9][a-z0-9_-]{0,63}
bool IsKindName(std::string_view s);
// [A-Za-z0-9][A-Za-z0-9._-]{0,199}
bool IsAttachmentName(std::string_view s);

// Checks a report's bytes against the uuid and kind its key names: one JSON object, valid
// UTF-8, no name twice in any object, "uuid" and "kind" strings equal to the key's, and
// "files" (when present) an array of {"name", "size", "sha256"} with distinct valid names.
// Returns "" and fills `out` when it holds, else why not.
std::string CheckReportJson(std::string_view body, const std::string& key_uuid,
                            const std::string& key_kind, ReportFacts* out);

}  // namespace granary::receiver
