#include "agent/outbox/report.h"

#include <cjson/cJSON.h>
#include <fmt/format.h>

#include "agent/outbox/uuid.h"
#include "platform/handles.h"

namespace granary {
namespace {

Status CheckFiles(const cJSON* files) {
  if (files == nullptr) return Status::Ok();
  if (!cJSON_IsArray(files)) return Error("\"files\" must be a list");
  const cJSON* f = nullptr;
  cJSON_ArrayForEach(f, files) {
    const cJSON* name = cJSON_GetObjectItemCaseSensitive(f, "name");
    if (!cJSON_IsObject(f) || !cJSON_IsString(name))
      return Error("every entry of \"files\" must be an object with a string \"name\"");
  }
  return Status::Ok();
}

}  // namespace

Result<ParsedReport> ParseReport(std::string_view text, const OutboxConfig& outbox) {
  const char* end = nullptr;
  CjsonPtr root(cJSON_ParseWithLengthOpts(text.data(), text.size(), &end, /*require_null=*/0));
  if (!root) {
    const size_t at = end != nullptr ? static_cast<size_t>(end - text.data()) : 0;
    return Error(fmt::format("not valid JSON (near byte {})", at));
  }
  for (; end != nullptr && end < text.data() + text.size(); ++end) {
    if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t')
      return Error("more than one JSON value");
  }
  if (!cJSON_IsObject(root.get())) return Error("not a JSON object");
  ParsedReport r;
  const cJSON* uuid = cJSON_GetObjectItemCaseSensitive(root.get(), "uuid");
  if (uuid == nullptr) {
    if (!outbox.assign_uuid) return Error("no \"uuid\" (and the outbox has assign_uuid = false)");
    r.uuid = NewUuidV4();
    r.uuid_assigned = true;
    cJSON_AddStringToObject(root.get(), "uuid", r.uuid.c_str());
  } else if (!cJSON_IsString(uuid) || !ValidUuid(uuid->valuestring)) {
    return Error("\"uuid\" must be an RFC 4122 UUID in lowercase (36 characters)");
  } else {
    r.uuid = uuid->valuestring;
  }
  const cJSON* kind = cJSON_GetObjectItemCaseSensitive(root.get(), "kind");
  if (kind == nullptr) {
    r.kind = outbox.kind;
  } else if (!cJSON_IsString(kind) || !ValidKind(kind->valuestring)) {
    return Error("\"kind\" must be 1 to 64 characters of a-z 0-9 _ -, starting a-z or 0-9");
  } else {
    r.kind = kind->valuestring;
  }
  if (Status s = CheckFiles(cJSON_GetObjectItemCaseSensitive(root.get(), "files")); !s)
    return s.error();
  if (r.uuid_assigned) {
    CjsonString printed(cJSON_PrintUnformatted(root.get()));
    r.body = std::string(printed.get()) + "\n";
  } else {
    r.body = std::string(text);
  }
  return r;
}

}  // namespace granary
