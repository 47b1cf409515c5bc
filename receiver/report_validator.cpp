// Reports and files in quarantine (report_format.h): the key's shape, the metadata the agent
// sends with them, and a report's bytes.
#include <fmt/format.h>

#include <fstream>
#include <iterator>

#include "platform/utf8.h"
#include "receiver/validator_checks.h"

namespace granary::receiver::validator_checks {
namespace {

// A metadata value the agent sends, when given, must say what the key and bytes say.
std::string CheckMetadata(const ObjectMeta& meta, const char* name, const std::string& want) {
  std::string given = meta.UserMetadata(std::string("granary-") + name);
  if (given.empty() || given == want) return "";
  return fmt::format("metadata granary-{} is \"{}\" but the object's is \"{}\"", name,
                     Utf8Prefix(given, 64), want);
}

}  // namespace

Validation ValidateReport(const std::string& path, const ObjectMeta& meta,
                          const std::string& device, const KeyParts& key,
                          const ValidatorLimits& limits) {
  if (!key.problem.empty()) return Reject(key.problem);
  const KindSettings* kind = nullptr;
  if (limits.kinds != nullptr) {
    for (const KindSettings& k : *limits.kinds) {
      if (k.name == key.kind) kind = &k;
    }
  }
  if (kind == nullptr) {
    return Reject(
        fmt::format("unknown report kind \"{}\" (no [[kind]] of this receiver)", key.kind));
  }
  if (meta.size > kind->max_bytes) {
    return Reject(fmt::format("report of {} bytes; kind \"{}\" takes at most {}", meta.size,
                              kind->name, kind->max_bytes));
  }
  for (auto [name, want] :
       {std::pair{"format", std::string("report.json/1")}, std::pair{"kind", key.kind},
        std::pair{"uuid", key.uuid}, std::pair{"sha256", meta.sha256_hex}}) {
    std::string problem = CheckMetadata(meta, name, want);
    if (!problem.empty()) return Reject(problem);
  }
  std::ifstream in(path, std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return Reject("report: cannot be read");
  if (body.size() != meta.size) return Reject("report: the body is not the size recorded");
  Validation v;
  std::string problem = CheckReportJson(body, key.uuid, key.kind, &v.report);
  if (!problem.empty()) return Reject(problem);
  v.report.device = device;
  v.ok = true;
  v.kind = ObjectKind::kReport;
  return v;
}

Validation ValidateFile(const ObjectMeta& meta, const std::string& device, const KeyParts& key) {
  if (!key.problem.empty()) return Reject(key.problem);
  std::string sha = meta.UserMetadata("granary-sha256");
  if (sha.empty()) return Reject("a file needs metadata granary-sha256 (its bytes' SHA-256)");
  for (auto [name, want] : {std::pair{"format", std::string("file/1")}, std::pair{"uuid", key.uuid},
                            std::pair{"sha256", meta.sha256_hex}}) {
    std::string problem = CheckMetadata(meta, name, want);
    if (!problem.empty()) return Reject(problem);
  }
  std::string kind = meta.UserMetadata("granary-kind");
  if (!kind.empty() && !IsKindName(kind)) {
    return Reject("metadata granary-kind is not [a-z0-9][a-z0-9_-]{0,63}");
  }
  Validation v;
  v.file = FileFacts{device, key.uuid, key.name, kind};
  v.ok = true;
  v.kind = ObjectKind::kFile;
  return v;
}

}  // namespace granary::receiver::validator_checks
