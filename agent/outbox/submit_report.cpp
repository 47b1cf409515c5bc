// Checking and completing a report before it goes into an outbox.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>

#include "agent/outbox/outbox_config.h"
#include "agent/outbox/submit.h"
#include "platform/crypto.h"
#include "platform/handles.h"

namespace granary {
namespace {

constexpr size_t kReadChunk = 1 << 20;
constexpr int kMaxDepth = 64;

bool AlnumAscii(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// The receiver refuses a report with a key twice in one object; cJSON would keep both.
const char* DuplicateKey(const cJSON* node, int depth) {
  if (depth > kMaxDepth) return "(nested too deeply)";
  std::set<std::string_view> seen;
  for (const cJSON* c = node->child; c != nullptr; c = c->next) {
    if (cJSON_IsObject(node) && c->string != nullptr && !seen.insert(c->string).second)
      return c->string;
    if (const char* dup = DuplicateKey(c, depth + 1); dup != nullptr) return dup;
  }
  return nullptr;
}

std::string StringField(const cJSON* object, const char* key, bool& wrong_type) {
  const cJSON* item = cJSON_GetObjectItemCaseSensitive(object, key);
  if (item == nullptr) return "";
  if (!cJSON_IsString(item) || item->valuestring == nullptr) {
    wrong_type = true;
    return "";
  }
  return item->valuestring;
}

// Sets object[key] = value, in place when present.
void SetString(cJSON* object, const char* key, const std::string& value) {
  if (cJSON_GetObjectItemCaseSensitive(object, key) != nullptr) {
    cJSON_ReplaceItemInObjectCaseSensitive(object, key, cJSON_CreateString(value.c_str()));
  } else {
    cJSON_AddStringToObject(object, key, value.c_str());
  }
}

Status MergeFiles(cJSON* report, const std::vector<Attachment>& attachments) {
  cJSON* files = cJSON_GetObjectItemCaseSensitive(report, "files");
  if (files == nullptr) {
    if (attachments.empty()) return Status::Ok();
    files = cJSON_AddArrayToObject(report, "files");
  }
  if (!cJSON_IsArray(files)) return Error("\"files\" must be an array");
  for (const cJSON* f = files->child; f != nullptr; f = f->next) {
    const cJSON* name = cJSON_GetObjectItemCaseSensitive(f, "name");
    if (!cJSON_IsObject(f) || !cJSON_IsString(name) || !ValidFileName(name->valuestring))
      return Error("every \"files\" entry must be an object with a valid \"name\"");
  }
  for (const Attachment& a : attachments) {
    cJSON* entry = cJSON_CreateObject();
    cJSON_AddStringToObject(entry, "name", a.name.c_str());
    cJSON_AddNumberToObject(entry, "size", static_cast<double>(a.size));
    cJSON_AddStringToObject(entry, "sha256", a.sha256.c_str());
    int index = 0;
    bool replaced = false;
    for (cJSON* f = files->child; f != nullptr; f = f->next, ++index) {
      if (a.name == cJSON_GetObjectItemCaseSensitive(f, "name")->valuestring) {
        cJSON_ReplaceItemInArray(files, index, entry);
        replaced = true;
        break;
      }
    }
    if (!replaced) cJSON_AddItemToArray(files, entry);
  }
  return Status::Ok();
}

}  // namespace

bool ValidFileName(std::string_view name) {
  return !name.empty() && name.size() <= 200 && AlnumAscii(name.front()) &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return AlnumAscii(c) || c == '.' || c == '_' || c == '-'; });
}

Result<Attachment> InspectAttachment(const std::string& path, std::string name) {
  Attachment a;
  a.path = path;
  a.name = name.empty() ? std::string(std::string_view(path).substr(path.rfind('/') + 1)) : name;
  if (!ValidFileName(a.name))
    return Error("attachment name \"" + a.name +
                 "\" is not valid: 1 to 200 characters of A-Z a-z 0-9 . _ -, starting with a "
                 "letter or digit");
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::FromErrno("stat " + path);
  if (!S_ISREG(st.st_mode)) return Error(path + " is not a regular file");
  StreamHasher hasher(/*with_md5=*/false);
  std::string buf(kReadChunk, '\0');
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("read " + path);
    if (n == 0) break;
    hasher.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
  }
  StreamDigests d = hasher.Finish();
  a.size = d.bytes;
  a.sha256 = d.sha256_hex;
  return a;
}

Result<PreparedReport> PrepareReport(const ReportRequest& request,
                                     const std::vector<Attachment>& attachments) {
  const char* end = nullptr;
  CjsonPtr root(cJSON_ParseWithLengthOpts(request.text.data(), request.text.size(), &end, false));
  if (!root) {
    const size_t at = end != nullptr && end >= request.text.data()
                          ? static_cast<size_t>(end - request.text.data())
                          : 0;
    return Error("not valid JSON (near byte " + std::to_string(at) + ")");
  }
  const std::string_view rest = request.text.substr(static_cast<size_t>(end - request.text.data()));
  if (rest.find_first_not_of(" \t\r\n") != std::string_view::npos)
    return Error("more than one JSON value");
  if (!cJSON_IsObject(root.get())) return Error("a report must be one JSON object");
  if (const char* dup = DuplicateKey(root.get(), 0); dup != nullptr)
    return Error(std::string("duplicate key \"") + dup + "\"");
  bool wrong_type = false;
  const std::string own_uuid = StringField(root.get(), "uuid", wrong_type);
  const std::string own_kind = StringField(root.get(), "kind", wrong_type);
  if (wrong_type) return Error("\"uuid\" and \"kind\" must be strings");
  PreparedReport out;
  if (!request.uuid.empty() && !own_uuid.empty() && request.uuid != own_uuid)
    return Error("--uuid " + request.uuid + " contradicts the report's uuid " + own_uuid);
  out.uuid = !request.uuid.empty() ? request.uuid : !own_uuid.empty() ? own_uuid : NewUuidV4();
  if (!ValidUuid(out.uuid))
    return Error("uuid \"" + out.uuid + "\" is not an RFC 4122 UUID in lowercase");
  if (!request.kind.empty() && !own_kind.empty() && request.kind != own_kind)
    return Error("--kind " + request.kind + " contradicts the report's kind " + own_kind);
  out.kind = !request.kind.empty() ? request.kind
             : !own_kind.empty()   ? own_kind
                                   : request.default_kind;
  if (!ValidKind(out.kind))
    return Error("kind \"" + out.kind + "\" is not 1 to 64 characters of a-z 0-9 _ -");
  std::set<std::string> names;
  for (const Attachment& a : attachments) {
    if (!names.insert(a.name).second) return Error("two attachments named " + a.name);
  }
  SetString(root.get(), "uuid", out.uuid);
  SetString(root.get(), "kind", out.kind);
  if (Status s = MergeFiles(root.get(), attachments); !s) return s.error();
  CjsonString text(cJSON_PrintUnformatted(root.get()));
  if (!text) return Error("cannot render the report");
  out.json = std::string(text.get()) + "\n";
  return out;
}

}  // namespace granary
