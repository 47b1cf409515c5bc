#include "receiver/report_format.h"

#include <cjson/cJSON.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "platform/handles.h"
#include "platform/utf8.h"
#include "receiver/validator_checks.h"

namespace granary::receiver {
namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsDigits(std::string_view s, size_t n) {
  return s.size() == n &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t slash = s.find('/', start);
    parts.push_back(s.substr(start, slash == std::string_view::npos ? s.npos : slash - start));
    if (slash == std::string_view::npos) return parts;
    start = slash + 1;
  }
}

KeyParts ReportKey(const std::vector<std::string_view>& p) {
  KeyParts k;
  k.shape = KeyShape::kReport;
  if (p.size() != 6) {
    k.problem = "a report key is reports/{kind}/{yyyy}/{mm}/{dd}/{uuid}.json";
    return k;
  }
  k.kind = p[1];
  std::string_view file = p[5];
  if (file.ends_with(".json")) k.uuid = file.substr(0, file.size() - 5);
  if (!IsKindName(k.kind)) {
    k.problem = "the key's kind is not [a-z0-9][a-z0-9_-]{0,63}";
  } else if (!IsDigits(p[2], 4) || !IsDigits(p[3], 2) || !IsDigits(p[4], 2)) {
    k.problem = "the key's date is not {yyyy}/{mm}/{dd}";
  } else if (!IsUuidText(k.uuid)) {
    k.problem = "the key's name is not {uuid}.json with a lowercase RFC 4122 UUID";
  }
  return k;
}

KeyParts FileKey(const std::vector<std::string_view>& p) {
  KeyParts k;
  k.shape = KeyShape::kFile;
  if (p.size() != 3) {
    k.problem = "a file key is files/{uuid}/{name}";
    return k;
  }
  k.uuid = p[1];
  k.name = p[2];
  if (!IsUuidText(k.uuid)) {
    k.problem = "the key's uuid is not a lowercase RFC 4122 UUID";
  } else if (!IsAttachmentName(k.name)) {
    k.problem = "the key's file name is not [A-Za-z0-9][A-Za-z0-9._-]{0,199}";
  }
  return k;
}

// An integer-valued JSON number that is a size (doubles hold 2^53 exactly).
bool AsSize(const cJSON* item, uint64_t* out) {
  if (!cJSON_IsNumber(item)) return false;
  double d = item->valuedouble;
  if (std::floor(d) != d || d < 0 || d > 9007199254740992.0) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

std::string CheckAttachments(const cJSON* files, std::vector<ReportAttachment>* out) {
  if (!cJSON_IsArray(files)) return "\"files\" is not an array";
  std::set<std::string> names;
  size_t i = 0;
  const cJSON* f = nullptr;
  cJSON_ArrayForEach(f, files) {
    ++i;
    if (!cJSON_IsObject(f)) return fmt::format("files[{}] is not an object", i - 1);
    ReportAttachment a;
    const char* name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "name"));
    if (name == nullptr || !IsAttachmentName(name)) {
      return fmt::format("files[{}]: \"name\" is not [A-Za-z0-9][A-Za-z0-9._-]{{0,199}}", i - 1);
    }
    a.name = name;
    if (!names.insert(a.name).second) {
      return fmt::format("files[{}]: \"{}\" is listed twice", i - 1, a.name);
    }
    if (const cJSON* size = cJSON_GetObjectItemCaseSensitive(f, "size"); size != nullptr) {
      uint64_t v = 0;
      if (!AsSize(size, &v)) return fmt::format("files[{}]: \"size\" is not a byte count", i - 1);
      a.size = v;
    }
    if (const cJSON* sha = cJSON_GetObjectItemCaseSensitive(f, "sha256"); sha != nullptr) {
      const char* hex = cJSON_GetStringValue(sha);
      std::string_view h = hex != nullptr ? hex : "";
      if (h.size() != 64 || !std::all_of(h.begin(), h.end(), IsLowerHex)) {
        return fmt::format("files[{}]: \"sha256\" is not 64 lowercase hex digits", i - 1);
      }
      a.sha256 = h;
    }
    out->push_back(std::move(a));
  }
  return "";
}

}  // namespace

bool IsUuidText(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsLowerHex(s[i])) return false;
  }
  return s[14] >= '1' && s[14] <= '5' &&
         (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

bool IsKindName(std::string_view s) {
  return !s.empty() && s.size() <= 64 && IsLowerAlnum(s[0]) &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return IsLowerAlnum(c) || c == '_' || c == '-'; });
}

bool IsAttachmentName(std::string_view s) {
  return !s.empty() && s.size() <= 200 && IsAlnum(s[0]) &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '-'; });
}

KeyParts ParseKeyShape(std::string_view rest) {
  std::vector<std::string_view> parts = Split(rest);
  if (parts.front() == "reports") return ReportKey(parts);
  if (parts.front() == "files") return FileKey(parts);
  return KeyParts{};
}

std::string CheckReportJson(std::string_view body, const std::string& key_uuid,
                            const std::string& key_kind, ReportFacts* out) {
  if (!IsValidUtf8(body)) return "report: not valid UTF-8";
  const char* end = nullptr;
  CjsonPtr obj(cJSON_ParseWithLengthOpts(body.data(), body.size(), &end, false));
  if (!obj || !cJSON_IsObject(obj.get())) return "report: not one JSON object";
  // cJSON stops after the first value: anything but white space behind it is a second one.
  std::string_view tail = body.substr(static_cast<size_t>(end - body.data()));
  if (tail.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    return "report: bytes after the JSON object";
  }
  std::string duplicate = validator_checks::DuplicateKey(obj.get());
  if (!duplicate.empty()) {
    return fmt::format("report: the key \"{}\" appears twice", Utf8Prefix(duplicate, 64));
  }
  const char* uuid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj.get(), "uuid"));
  if (uuid == nullptr) return "report: no \"uuid\" string";
  if (!IsUuidText(uuid)) {
    return fmt::format("report: uuid \"{}\" is not a lowercase RFC 4122 UUID",
                       Utf8Prefix(uuid, 64));
  }
  if (uuid != key_uuid) {
    return fmt::format("report: uuid {} but the key names {}", uuid, Utf8Prefix(key_uuid, 64));
  }
  const char* kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj.get(), "kind"));
  if (kind == nullptr) return "report: no \"kind\" string";
  if (kind != key_kind) {
    return fmt::format("report: kind \"{}\" but the key names \"{}\"", Utf8Prefix(kind, 64),
                       Utf8Prefix(key_kind, 64));
  }
  ReportFacts facts;
  if (const cJSON* files = cJSON_GetObjectItemCaseSensitive(obj.get(), "files"); files != nullptr) {
    std::string problem = CheckAttachments(files, &facts.files);
    if (!problem.empty()) return "report: " + problem;
  }
  facts.uuid = uuid;
  facts.kind = kind;
  CjsonString compact(cJSON_PrintUnformatted(obj.get()));
  if (!compact) return "report: cannot be printed";
  facts.fields_json = compact.get();
  *out = std::move(facts);
  return "";
}

}  // namespace granary::receiver
