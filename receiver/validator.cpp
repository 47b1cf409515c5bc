#include "receiver/validator.h"

#include <cjson/cJSON.h>
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "platform/crypto.h"
#include "platform/gzip_lines.h"
#include "platform/handles.h"
#include "platform/utf8.h"
#include "receiver/validator_checks.h"

namespace granary::receiver {
namespace validator_checks {

Validation Reject(std::string reason) {
  Validation v;
  v.reason = std::move(reason);
  return v;
}

bool KeyNamesSource(const std::string& key, const std::string& source) {
  return key.find("/" + source + "/") != std::string::npos ||
         key.find("-" + source + "-") != std::string::npos;
}

bool ParseUnsigned(const std::string& text, uint64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

std::string CheckMetadataNumber(const ObjectMeta& meta, const char* name, uint64_t actual,
                                const char* body) {
  std::string text = meta.UserMetadata(std::string("granary-") + name);
  if (text.empty()) return "";
  uint64_t want = 0;
  if (!ParseUnsigned(text, &want)) return fmt::format("metadata granary-{} is not a number", name);
  if (want != actual) {
    return fmt::format("metadata granary-{} is {} but the {} say {}", name, want, body, actual);
  }
  return "";
}

std::string CheckSegmentMetadata(const ObjectMeta& meta, const SegmentFacts& f) {
  const char* body = f.format == "bson.gz/1" ? "documents" : "lines";
  if (!KeyNamesSource(meta.key, f.source)) {
    return fmt::format("the key does not name the {}' source \"{}\"", body, f.source);
  }
  for (auto [name, actual] : {std::pair{"first-seq", f.first_seq},
                              std::pair{"last-seq", f.last_seq}, std::pair{"count", f.count}}) {
    std::string problem = CheckMetadataNumber(meta, name, actual, body);
    if (!problem.empty()) return problem;
  }
  std::string meta_sha = meta.UserMetadata("granary-sha256");
  if (!meta_sha.empty() && meta_sha != meta.sha256_hex) {
    return "metadata granary-sha256 differs from the body's SHA-256";
  }
  return "";
}

Validation FinishSegment(Validation v, const ObjectMeta& meta, const Status& read, const char* unit,
                         uint64_t n, uint64_t raw_bytes, bool any_unsynced, bool any_synced,
                         StreamHasher* content) {
  if (!read.ok()) {
    return Reject(n == 0 ? read.error().message()
                         : fmt::format("after {} {}: {}", unit, n, read.error().message()));
  }
  if (n == 0) return Reject(fmt::format("the segment has no {}s", unit));
  SegmentFacts& f = v.segment;
  f.count = n;
  f.raw_bytes = raw_bytes;
  f.clock = any_unsynced ? (any_synced ? "mixed" : "unsynced") : "ok";
  if (std::string problem = CheckSegmentMetadata(meta, f); !problem.empty()) {
    return Reject(problem);
  }
  f.content_sha256 = content->Finish().sha256_hex;
  v.ok = true;
  v.kind = ObjectKind::kSegment;
  return v;
}

// The first name that appears twice in one object, at any depth ("" when none). cJSON keeps
// both and finds the first, while other parsers take the last: a line with a duplicate
// means different readings to different consumers.
std::string DuplicateKey(const cJSON* item) {
  std::unordered_set<std::string_view> names;
  const cJSON* child = nullptr;
  cJSON_ArrayForEach(child, item) {
    if (cJSON_IsObject(item) && !names.insert(child->string).second) return child->string;
    std::string inner = DuplicateKey(child);
    if (!inner.empty()) return inner;
  }
  return "";
}

}  // namespace validator_checks

namespace {
using namespace validator_checks;

constexpr uint64_t kMaxTombstoneBytes = 64 * 1024;

// An integer-valued JSON number that fits in int64 exactly (doubles hold 2^53).
bool AsInteger(const cJSON* item, int64_t* out) {
  if (!cJSON_IsNumber(item)) return false;
  double d = item->valuedouble;
  if (std::floor(d) != d || std::fabs(d) > 9007199254740992.0) return false;
  *out = static_cast<int64_t>(d);
  return true;
}

std::string StringField(const cJSON* obj, const char* name, bool* present) {
  const cJSON* item = cJSON_GetObjectItemCaseSensitive(obj, name);
  *present = cJSON_IsString(item);
  return *present ? item->valuestring : "";
}

void HashObserver(void* ctx, std::string_view data) {
  static_cast<StreamHasher*>(ctx)->Update(data);
}

Validation ValidateSegment(const std::string& path, const ObjectMeta& meta,
                           const std::string& device, const ValidatorLimits& limits) {
  GzipLineReader reader(limits.max_line_bytes, limits.max_raw_bytes);
  Status s = reader.Open(path);
  if (!s) return Reject(s.error().message());
  StreamHasher content(/*with_md5=*/false);
  reader.SetObserver(&HashObserver, &content);

  Validation v;
  SegmentFacts& f = v.segment;
  f.device = device;
  std::string meta_source = meta.UserMetadata("granary-source");
  bool any_unsynced = false, any_synced = false;
  uint64_t line_no = 0;
  std::string_view line;
  while (reader.Next(&line)) {
    ++line_no;
    if (std::chrono::steady_clock::now() > limits.deadline) {
      Validation late = Reject(fmt::format("validation ran out of time at line {}", line_no));
      late.over_budget = true;
      return late;
    }
    if (!IsValidUtf8(line)) return Reject(fmt::format("line {}: not valid UTF-8", line_no));
    CjsonPtr obj(cJSON_ParseWithLength(line.data(), line.size()));
    if (!obj || !cJSON_IsObject(obj.get())) {
      return Reject(fmt::format("line {}: not a JSON object", line_no));
    }
    std::string duplicate = DuplicateKey(obj.get());
    if (!duplicate.empty()) {
      return Reject(
          fmt::format("line {}: the key \"{}\" appears twice", line_no, Utf8Prefix(duplicate, 64)));
    }
    bool present = false;
    std::string line_device = StringField(obj.get(), "device", &present);
    if (!present) return Reject(fmt::format("line {}: no \"device\" string", line_no));
    if (line_device != device) {
      return Reject(fmt::format("line {}: device \"{}\" but the key is device \"{}\"", line_no,
                                Utf8Prefix(line_device, 64), device));
    }
    std::string line_source = StringField(obj.get(), "source", &present);
    if (!present || line_source.empty())
      return Reject(fmt::format("line {}: no \"source\" string", line_no));
    int64_t seq = 0, ts = 0;
    if (!AsInteger(cJSON_GetObjectItemCaseSensitive(obj.get(), "seq"), &seq) || seq < 1) {
      return Reject(fmt::format("line {}: \"seq\" is not a positive integer", line_no));
    }
    if (!AsInteger(cJSON_GetObjectItemCaseSensitive(obj.get(), "ts"), &ts)) {
      return Reject(fmt::format("line {}: \"ts\" is not an integer", line_no));
    }
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(obj.get(), "data"))) {
      return Reject(fmt::format("line {}: \"data\" is not an object", line_no));
    }
    std::string clock = StringField(obj.get(), "clock", &present);
    if (present && clock == "unsynced") {
      any_unsynced = true;
    } else {
      any_synced = true;
    }
    if (line_no == 1) {
      f.source = line_source;
      f.first_seq = static_cast<uint64_t>(seq);
      f.first_ts = ts;
      if (!meta_source.empty() && meta_source != f.source) {
        return Reject(fmt::format("line 1: source \"{}\" but metadata granary-source is \"{}\"",
                                  Utf8Prefix(f.source, 64), Utf8Prefix(meta_source, 64)));
      }
    } else {
      if (line_source != f.source) {
        return Reject(fmt::format("line {}: source \"{}\" differs from line 1's \"{}\"", line_no,
                                  Utf8Prefix(line_source, 64), f.source));
      }
      if (static_cast<uint64_t>(seq) != f.last_seq + 1) {
        return Reject(fmt::format("line {}: seq {} after {} (seqs must be contiguous)", line_no,
                                  seq, f.last_seq));
      }
    }
    f.last_seq = static_cast<uint64_t>(seq);
    f.last_ts = ts;
  }
  return FinishSegment(std::move(v), meta, reader.status(), "line", line_no, reader.raw_bytes(),
                       any_unsynced, any_synced, &content);
}

Validation ValidateTombstone(const std::string& path, const ObjectMeta& meta,
                             const std::string& device) {
  if (meta.size > kMaxTombstoneBytes) return Reject("tombstone larger than 64KiB");
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::string body = text.str();
  CjsonPtr obj(cJSON_ParseWithLength(body.data(), body.size()));
  if (!obj || !cJSON_IsObject(obj.get())) return Reject("tombstone: not a JSON object");
  Validation v;
  TombstoneFacts& t = v.tombstone;
  bool present = false;
  std::string tdevice = StringField(obj.get(), "device", &present);
  if (tdevice != device) {
    return Reject(fmt::format("tombstone: device \"{}\" but the key is device \"{}\"",
                              Utf8Prefix(tdevice, 64), device));
  }
  t.device = device;
  t.source = StringField(obj.get(), "source", &present);
  if (t.source.empty()) return Reject("tombstone: no \"source\"");
  t.reason = StringField(obj.get(), "reason", &present);
  int64_t first = 0, last = 0, count = 0, at = 0;
  if (!AsInteger(cJSON_GetObjectItemCaseSensitive(obj.get(), "first_seq"), &first) ||
      !AsInteger(cJSON_GetObjectItemCaseSensitive(obj.get(), "last_seq"), &last) || first < 1 ||
      last < first) {
    return Reject("tombstone: first_seq/last_seq are not a seq range");
  }
  if (AsInteger(cJSON_GetObjectItemCaseSensitive(obj.get(), "count"), &count) &&
      count != last - first + 1) {
    return Reject(
        fmt::format("tombstone: count {} but the range holds {}", count, last - first + 1));
  }
  (void)AsInteger(cJSON_GetObjectItemCaseSensitive(obj.get(), "at"), &at);
  if (!KeyNamesSource(meta.key, t.source)) {
    return Reject(fmt::format("tombstone: the key does not name source \"{}\"", t.source));
  }
  t.first_seq = static_cast<uint64_t>(first);
  t.last_seq = static_cast<uint64_t>(last);
  t.count = t.last_seq - t.first_seq + 1;
  t.at = at;
  v.ok = true;
  v.kind = ObjectKind::kTombstone;
  return v;
}

}  // namespace

std::string DeviceOfKey(const std::string& key, const std::string& prefix) {
  std::string rest = key;
  if (!prefix.empty()) {
    if (key.compare(0, prefix.size() + 1, prefix + "/") != 0) return "";
    rest = key.substr(prefix.size() + 1);
  }
  size_t slash = rest.find('/');
  return slash == std::string::npos ? "" : rest.substr(0, slash);
}

Validation ValidateObject(const std::string& body_path, const ObjectMeta& meta,
                          const std::string& prefix, const ValidatorLimits& limits) {
  std::string device = DeviceOfKey(meta.key, prefix);
  if (device.empty()) return Reject("the key is not under {prefix}/{device}/");
  if (!meta.device.empty() && meta.device != device) {
    return Reject(
        fmt::format("stored with device \"{}\"'s key under device \"{}\"", meta.device, device));
  }
  std::string meta_device = meta.UserMetadata("granary-device");
  if (!meta_device.empty() && meta_device != device) {
    return Reject(fmt::format("metadata granary-device \"{}\" but the key is device \"{}\"",
                              Utf8Prefix(meta_device, 64), device));
  }
  KeyParts shape = ParseKeyShape(std::string_view(meta.key).substr(
      prefix.empty() ? device.size() + 1 : prefix.size() + device.size() + 2));
  if (shape.shape == KeyShape::kReport) {
    return ValidateReport(body_path, meta, device, shape, limits);
  }
  if (shape.shape == KeyShape::kFile) return ValidateFile(meta, device, shape);
  std::string format = meta.UserMetadata("granary-format");
  if (format.starts_with("tombstone/") ||
      (format.empty() && meta.key.ends_with(".tombstone.json"))) {
    if (!format.empty() && format != "tombstone/1") return Reject("unknown format " + format);
    return ValidateTombstone(body_path, meta, device);
  }
  if (format.empty() ? meta.key.ends_with(".jsonl.gz") : format == "jsonl.gz/1") {
    return ValidateSegment(body_path, meta, device, limits);
  }
  if (format.empty() ? meta.key.ends_with(".bson.gz") : format == "bson.gz/1") {
    return ValidateBsonSegment(body_path, meta, device, limits);
  }
  return Reject(format.empty() ? "not a granary object (no granary-format metadata, key not "
                                 "*.jsonl.gz, *.bson.gz or *.tombstone.json)"
                               : "unknown format \"" + Utf8Prefix(format, 64) + "\"");
}

}  // namespace granary::receiver
