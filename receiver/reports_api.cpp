#include "receiver/reports_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "platform/handles.h"
#include "platform/log.h"
#include "platform/strings.h"
#include "receiver/api_json.h"
#include "receiver/byte_range.h"

namespace granary::receiver {
namespace {

constexpr int kDefaultPage = 100, kMaxPage = 1000;

cJSON* SummaryJson(const ReportRow& r) {
  cJSON* obj = cJSON_CreateObject();
  cJSON_AddStringToObject(obj, "uuid", r.uuid.c_str());
  cJSON_AddStringToObject(obj, "device", r.device.c_str());
  cJSON_AddStringToObject(obj, "kind", r.kind.c_str());
  AddNumber(obj, "time", static_cast<double>(r.time_ms));
  cJSON_AddStringToObject(obj, "bucket", r.bucket.c_str());
  cJSON_AddStringToObject(obj, "key", r.key.c_str());
  AddNumber(obj, "size", static_cast<double>(r.size));
  cJSON_AddStringToObject(obj, "sha256", r.sha256_hex.c_str());
  cJSON_AddStringToObject(obj, "state", r.state.c_str());
  if (!r.reason.empty()) cJSON_AddStringToObject(obj, "reason", r.reason.c_str());
  return obj;
}

// One attachment: as listed by the report and/or as stored.
cJSON* AttachmentJson(const std::string& name, const ReportAttachment* listed,
                      const FileRow* stored) {
  cJSON* obj = cJSON_CreateObject();
  cJSON_AddStringToObject(obj, "name", name.c_str());
  cJSON_AddBoolToObject(obj, "listed", listed != nullptr);
  cJSON_AddBoolToObject(obj, "present", stored != nullptr);
  if (listed != nullptr) {
    if (listed->size) AddNumber(obj, "listed_size", static_cast<double>(*listed->size));
    if (!listed->sha256.empty())
      cJSON_AddStringToObject(obj, "listed_sha256", listed->sha256.c_str());
  }
  if (stored != nullptr) {
    AddNumber(obj, "size", static_cast<double>(stored->size));
    cJSON_AddStringToObject(obj, "sha256", stored->sha256_hex.c_str());
    cJSON_AddStringToObject(obj, "key", stored->key.c_str());
    cJSON_AddStringToObject(obj, "state", stored->state.c_str());
    if (!stored->reason.empty()) cJSON_AddStringToObject(obj, "reason", stored->reason.c_str());
  }
  if (listed != nullptr && stored != nullptr) {
    bool matches = (!listed->size || *listed->size == stored->size) &&
                   (listed->sha256.empty() || listed->sha256 == stored->sha256_hex);
    cJSON_AddBoolToObject(obj, "matches", matches);
  }
  return obj;
}

// Stored bytes: never rendered as a page of this origin, always a download.
HttpResponse Download(ReceiverContext& ctx, const std::string& bucket, const std::string& key,
                      uint64_t size, const std::string& name, const std::string& content_type,
                      const std::string& range) {
  bool unsatisfiable = false;
  std::optional<ByteRange> part = ParseRange(range, size, &unsatisfiable);
  if (unsatisfiable) {
    HttpResponse r = JsonError(416, "the range starts past the end");
    r.headers.emplace_back("Content-Range", ContentRange(std::nullopt, size));
    return r;
  }
  auto reader = ctx.store.OpenReader(bucket, key);
  if (!reader) {
    log::Error("indexed object {}/{}: {}", bucket, key, reader.error().message());
    return JsonError(500, "the object's bytes are missing; run verify");
  }
  HttpResponse r;
  r.status = part ? 206 : 200;
  SetObjectBody(std::move(*reader), part, &r);
  r.headers.emplace_back("Content-Type", content_type);
  r.headers.emplace_back("Accept-Ranges", "bytes");
  if (part) r.headers.emplace_back("Content-Range", ContentRange(part, size));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Content-Security-Policy", "sandbox");
  // Names are [A-Za-z0-9._-]: nothing to quote.
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + "\"");
  return r;
}

HttpResponse List(ReceiverContext& ctx, const std::string& raw_query) {
  std::string error;
  auto page = ParsePageQuery(raw_query, kDefaultPage, kMaxPage, &IsUuidText, &error);
  if (!page) return JsonError(400, error);
  ReportQuery q;
  q.device = QueryParam(raw_query, "device");
  q.kind = QueryParam(raw_query, "kind");
  q.from_ms = page->from_ms;
  q.to_ms = page->to_ms;
  q.after = page->after;
  q.limit = page->limit;
  auto rows = ctx.index.Reports(q);
  if (!rows) return JsonError(500, rows.error().message());
  CjsonPtr obj(cJSON_CreateObject());
  cJSON* arr = cJSON_AddArrayToObject(obj.get(), "reports");
  for (const ReportRow& r : *rows) cJSON_AddItemToArray(arr, SummaryJson(r));
  // A full page may have more behind it; a short one is the last.
  if (static_cast<int>(rows->size()) == q.limit) {
    cJSON_AddStringToObject(obj.get(), "next_cursor",
                            NextCursor(rows->back().time_ms, rows->back().uuid).c_str());
  }
  return Json(200, obj.get());
}

HttpResponse One(ReceiverContext& ctx, const ReportRow& report) {
  auto listed = ctx.index.ListedFiles(report.uuid);
  if (!listed) return JsonError(500, listed.error().message());
  auto stored = ctx.index.Files(report.uuid);
  if (!stored) return JsonError(500, stored.error().message());
  std::map<std::string, std::pair<const ReportAttachment*, const FileRow*>> by_name;
  for (const ReportAttachment& a : *listed) by_name[a.name].first = &a;
  for (const FileRow& f : *stored) by_name[f.name].second = &f;
  CjsonPtr obj(SummaryJson(report));
  cJSON* fields = cJSON_Parse(report.fields_json.c_str());
  cJSON_AddItemToObject(obj.get(), "report", fields != nullptr ? fields : cJSON_CreateNull());
  cJSON* arr = cJSON_AddArrayToObject(obj.get(), "files");
  bool complete = true;
  for (const auto& [name, pair] : by_name) {
    cJSON_AddItemToArray(arr, AttachmentJson(name, pair.first, pair.second));
    if (pair.first != nullptr && pair.second == nullptr) complete = false;
  }
  cJSON_AddBoolToObject(obj.get(), "complete", complete);
  return Json(200, obj.get());
}

}  // namespace

HttpResponse ReportsAnswer(ReceiverContext& ctx, const std::string& path,
                           const std::string& raw_query) {
  constexpr std::string_view kBase = "/api/v1/reports";
  if (path == kBase) return List(ctx, raw_query);
  std::string rest = path.substr(kBase.size() + 1);
  size_t slash = rest.find('/');
  std::string uuid = rest.substr(0, slash);
  std::string what = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (what != "" && what != "body") return JsonError(404, "no such endpoint");
  if (!IsUuidText(uuid)) return JsonError(400, "a report is named by its lowercase RFC 4122 uuid");
  auto row = ctx.index.Report(uuid);
  if (!row) return JsonError(500, row.error().message());
  if (!row->has_value()) return JsonError(404, "no report " + uuid);
  const ReportRow& r = **row;
  if (what == "body") {
    return Download(ctx, r.bucket, r.key, r.size, r.uuid + ".json", "application/json", "");
  }
  return One(ctx, r);
}

HttpResponse FileAnswer(ReceiverContext& ctx, const std::string& path, const std::string& range) {
  std::string rest = path.substr(std::string_view("/api/v1/files/").size());
  size_t slash = rest.find('/');
  std::string uuid = rest.substr(0, slash);
  std::string name = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (!IsUuidText(uuid) || !IsAttachmentName(name)) {
    return JsonError(400, "a file is /api/v1/files/{uuid}/{name}");
  }
  auto files = ctx.index.Files(uuid);
  if (!files) return JsonError(500, files.error().message());
  for (const FileRow& f : *files) {
    if (f.name != name) continue;
    HttpResponse r =
        Download(ctx, f.bucket, f.key, f.size, f.name, "application/octet-stream", range);
    r.headers.emplace_back("ETag", "\"" + f.sha256_hex + "\"");
    r.headers.emplace_back("X-Granary-State", f.state);
    return r;
  }
  return JsonError(404, "no file " + uuid + "/" + name);
}

}  // namespace granary::receiver
