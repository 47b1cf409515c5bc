#include "receiver/s3_events.h"

#include <cjson/cJSON.h>

#include <algorithm>

#include "platform/handles.h"
#include "s3/sigv4.h"

namespace granary::receiver {
namespace {

constexpr size_t kMaxRecords = 10000;

const cJSON* Child(const cJSON* obj, const char* name) {
  return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : nullptr;
}

std::string Str(const cJSON* obj, const char* name) {
  const cJSON* item = Child(obj, name);
  return cJSON_IsString(item) ? item->valuestring : "";
}

Result<S3EventBatch> ParseRecords(const cJSON* root) {
  S3EventBatch batch;
  const cJSON* records = Child(root, "Records");
  if (records == nullptr) {
    // s3:TestEvent and other record-less messages.
    if (!Str(root, "Event").empty() || !Str(root, "Service").empty()) {
      batch.ignored = 1;
      return batch;
    }
    return Error("S3 event: no \"Records\" array");
  }
  if (!cJSON_IsArray(records)) return Error("S3 event: \"Records\" is not an array");
  if (static_cast<size_t>(cJSON_GetArraySize(records)) > kMaxRecords) {
    return Error("S3 event: more than 10000 records");
  }
  const cJSON* rec = nullptr;
  cJSON_ArrayForEach(rec, records) {
    if (!cJSON_IsObject(rec)) return Error("S3 event: a record is not an object");
    std::string name = Str(rec, "eventName");
    if (!name.starts_with("ObjectCreated:") && !name.starts_with("s3:ObjectCreated:")) {
      ++batch.ignored;
      continue;
    }
    const cJSON* s3 = Child(rec, "s3");
    const cJSON* object = Child(s3, "object");
    S3EventRecord r;
    r.event_name = name;
    r.bucket = Str(Child(s3, "bucket"), "name");
    std::string raw_key = Str(object, "key");
    if (r.bucket.empty() || raw_key.empty()) return Error("S3 event: a record lacks bucket or key");
    std::replace(raw_key.begin(), raw_key.end(), '+', ' ');
    auto key = sigv4::UriDecode(raw_key);
    if (!key) return Error("S3 event: " + key.error().message());
    r.key = *key;
    const cJSON* size = Child(object, "size");
    if (cJSON_IsNumber(size) && size->valuedouble >= 0 && size->valuedouble < 1.8e19) {
      r.size = static_cast<uint64_t>(size->valuedouble);
    }
    r.etag = Str(object, "eTag");
    if (r.etag.empty()) r.etag = Str(object, "etag");
    r.etag.erase(std::remove(r.etag.begin(), r.etag.end(), '"'), r.etag.end());
    batch.records.push_back(std::move(r));
  }
  return batch;
}

}  // namespace

Result<S3EventBatch> ParseS3Events(std::string_view json) {
  CjsonPtr root(cJSON_ParseWithLength(json.data(), json.size()));
  if (!root || !cJSON_IsObject(root.get())) return Error("S3 event: not a JSON object");
  std::string type = Str(root.get(), "Type");
  if (type == "SubscriptionConfirmation") {
    S3EventBatch batch;
    batch.subscribe_url = Str(root.get(), "SubscribeURL");
    return batch;
  }
  if (type == "Notification") {
    std::string message = Str(root.get(), "Message");
    CjsonPtr inner(cJSON_ParseWithLength(message.data(), message.size()));
    if (!inner || !cJSON_IsObject(inner.get())) return Error("S3 event: SNS Message is not JSON");
    return ParseRecords(inner.get());
  }
  return ParseRecords(root.get());
}

}  // namespace granary::receiver
