#include "receiver/report_validation.h"

#include <cjson/cJSON.h>
#include <fmt/format.h>

#include <algorithm>

#include "platform/handles.h"
#include "platform/log.h"
#include "platform/utf8.h"

namespace granary::receiver {
namespace {

constexpr int kSendBatch = 100;
constexpr size_t kMaxReasonBytes = 1024;

// The object's fields every message about it carries.
CjsonPtr ObjectJson(const PendingValidation& p) {
  CjsonPtr obj(cJSON_CreateObject());
  cJSON_AddStringToObject(obj.get(), "type", p.what.c_str());
  cJSON_AddStringToObject(obj.get(), "kind", p.kind.c_str());
  cJSON_AddStringToObject(obj.get(), "uuid", p.uuid.c_str());
  if (!p.name.empty()) cJSON_AddStringToObject(obj.get(), "name", p.name.c_str());
  cJSON_AddStringToObject(obj.get(), "device", p.device.c_str());
  cJSON_AddStringToObject(obj.get(), "bucket", p.bucket.c_str());
  cJSON_AddStringToObject(obj.get(), "key", p.key.c_str());
  cJSON_AddNumberToObject(obj.get(), "size", static_cast<double>(p.size));
  cJSON_AddStringToObject(obj.get(), "sha256", p.sha256_hex.c_str());
  return obj;
}

std::string Print(const CjsonPtr& obj) {
  CjsonString text(cJSON_PrintUnformatted(obj.get()));
  return text ? text.get() : "{}";
}

PendingValidation Describe(const ObjectMeta& meta, const Validation& v) {
  PendingValidation p;
  bool report = v.kind == ObjectKind::kReport;
  p.what = report ? "report" : "file";
  p.kind = report ? v.report.kind : v.file.kind;
  p.uuid = report ? v.report.uuid : v.file.uuid;
  p.name = report ? "" : v.file.name;
  p.device = report ? v.report.device : v.file.device;
  p.bucket = meta.bucket;
  p.key = meta.key;
  p.size = meta.size;
  p.sha256_hex = meta.sha256_hex;
  return p;
}

}  // namespace

ReportValidation::ReportValidation(Env& env, Index& index, const ReceiverConfig& config,
                                   FleetMqtt* mqtt)
    : env_(env), index_(index), config_(config), mqtt_(mqtt) {}

void ReportValidation::SetApiBase(std::string base) {
  std::lock_guard<std::mutex> lock(mu_);
  api_base_ = std::move(base);
}

std::string ReportValidation::RequestJson(const PendingValidation& p, const std::string& base) {
  CjsonPtr obj = ObjectJson(p);
  cJSON_AddStringToObject(obj.get(), "request_id", p.request_id.c_str());
  std::string path = p.what == "report" ? "/api/v1/reports/" + p.uuid + "/body"
                                        : "/api/v1/files/" + p.uuid + "/" + p.name;
  cJSON_AddStringToObject(obj.get(), "url", (base + path).c_str());
  return Print(obj);
}

void ReportValidation::Indexed(const ObjectMeta& meta, const Validation& v, bool pending) {
  if (pending) {
    SendDue();
  } else {
    Announce(Describe(meta, v));
  }
}

void ReportValidation::Announce(const PendingValidation& p) {
  if (mqtt_ != nullptr) mqtt_->Publish("available", Print(ObjectJson(p)));
}

void ReportValidation::SendDue() {
  if (mqtt_ == nullptr || !mqtt_->stats().connected) return;
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = env_.WallNowMs();
  auto due = index_.DueValidations(now, kSendBatch);
  if (!due) {
    log::Error("validation requests: {}", due.error().message());
    return;
  }
  for (const PendingValidation& p : *due) {
    if (!mqtt_->Publish("validate/" + p.kind, RequestJson(p, api_base_))) return;
    int64_t wait = config_.validator_timeout.count() << std::min<int64_t>(p.tries, 6);
    Status s = index_.ValidationSent(p.request_id, now + wait);
    if (!s) {
      log::Error("validation request {}: {}", p.request_id, s.error().message());
      return;
    }
    if (p.tries > 0) {
      log::Info("{} {} of kind {}: no answer from its validator yet; asked again (try {})", p.what,
                p.uuid, p.kind, p.tries + 1);
    }
  }
}

void ReportValidation::OnAnswer(const std::string& request_id, std::string_view body) {
  CjsonPtr json(cJSON_ParseWithLength(body.data(), body.size()));
  const char* result =
      json ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json.get(), "result")) : nullptr;
  std::string r = result != nullptr ? result : "";
  if (r != "accept" && r != "reject") {
    log::Warning("validation answer {}: not {{\"result\": \"accept\" | \"reject\"}}; ignored",
                 Utf8Prefix(request_id, 64));
    return;
  }
  std::string reason;
  if (r == "reject") {
    const char* given =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json.get(), "reason"));
    reason = given != nullptr && *given != '\0' ? Utf8Prefix(given, kMaxReasonBytes)
                                                : "rejected by the validator (no reason given)";
  }
  auto decided = index_.DecideValidation(request_id, r == "accept", reason, env_.WallNowMs());
  if (!decided) {
    // The answer is lost; the request is sent again and answered again.
    log::Error("validation answer {}: {}", Utf8Prefix(request_id, 64), decided.error().message());
    return;
  }
  if (!decided->has_value()) return;  // unknown, or decided by an earlier answer
  const PendingValidation& p = **decided;
  if (r == "accept") {
    log::Info("{} {} of kind {}: accepted by its validator", p.what, p.uuid, p.kind);
    Announce(p);
  } else {
    log::Warning("{} {} of kind {}: rejected by its validator: {}", p.what, p.uuid, p.kind, reason);
  }
}

void ReportValidation::Tick() {
  SendDue();
  int64_t now = env_.WallNowMs();
  auto events = index_.CheckAttachments(now - config_.attachment_grace.count(), now);
  if (!events) {
    log::Error("attachment check: {}", events.error().message());
  } else if (*events > 0) {
    log::Warning("attachment check: {} event(s) raised (see the events API)", *events);
  }
}

}  // namespace granary::receiver
