#include "receiver/messages_api.h"

#include <fmt/format.h>

#include <algorithm>

#include "archive/message.h"
#include "platform/crypto.h"
#include "platform/handles.h"
#include "platform/strings.h"
#include "platform/utf8.h"
#include "receiver/api_json.h"
#include "receiver/message_store.h"

namespace granary::receiver {
namespace {

constexpr int kDefaultPage = 1000, kMaxPage = 10000;

void AddNumber(cJSON* obj, const char* name, double v) { cJSON_AddNumberToObject(obj, name, v); }

cJSON* RowJson(const MessageRow& m) {
  cJSON* obj = cJSON_CreateObject();
  cJSON_AddStringToObject(obj, "id", m.id.c_str());
  cJSON_AddStringToObject(obj, "device", m.device.c_str());
  cJSON_AddStringToObject(obj, "source", m.source.c_str());
  cJSON_AddStringToObject(obj, "topic", m.topic.c_str());
  AddNumber(obj, "ts", static_cast<double>(m.ts));
  AddNumber(obj, "seq", static_cast<double>(m.seq));
  cJSON_AddStringToObject(obj, "bucket", m.bucket.c_str());
  cJSON_AddStringToObject(obj, "key", m.key.c_str());
  AddNumber(obj, "offset", static_cast<double>(m.offset));
  AddNumber(obj, "length", static_cast<double>(m.length));
  return obj;
}

// Bytes as base64, and as text too when they are valid UTF-8 (`name`_text).
void AddBytes(cJSON* obj, const std::string& name, const std::string& bytes) {
  cJSON_AddStringToObject(obj, (name + "_base64").c_str(), Base64Encode(bytes).c_str());
  if (IsValidUtf8(bytes) && bytes.find('\0') == std::string::npos) {
    cJSON_AddStringToObject(obj, (name + "_text").c_str(), bytes.c_str());
  }
}

cJSON* MessageJson(const MessageRow& row, const archive::ArchivedMessage& m) {
  cJSON* obj = RowJson(row);
  AddNumber(obj, "qos", m.qos);
  cJSON_AddBoolToObject(obj, "retain", m.retain);
  cJSON_AddBoolToObject(obj, "dup", m.dup);
  if (m.clock_unsynced) cJSON_AddStringToObject(obj, "clock", "unsynced");
  cJSON* h = cJSON_AddObjectToObject(obj, "headers");
  const archive::Headers& hd = m.headers;
  if (!hd.user_properties.empty()) {
    cJSON* list = cJSON_AddArrayToObject(h, "user_properties");
    for (const archive::UserProperty& p : hd.user_properties) {
      cJSON* pair = cJSON_CreateArray();
      cJSON_AddItemToArray(pair, cJSON_CreateString(p.name.c_str()));
      cJSON_AddItemToArray(pair, cJSON_CreateString(p.value.c_str()));
      cJSON_AddItemToArray(list, pair);
    }
  }
  if (hd.content_type) cJSON_AddStringToObject(h, "content_type", hd.content_type->c_str());
  if (hd.payload_format) AddNumber(h, "payload_format", *hd.payload_format);
  if (hd.response_topic) cJSON_AddStringToObject(h, "response_topic", hd.response_topic->c_str());
  if (hd.correlation_data) {
    cJSON_AddStringToObject(h, "correlation_data_base64",
                            Base64Encode(*hd.correlation_data).c_str());
  }
  if (hd.message_expiry) AddNumber(h, "message_expiry", *hd.message_expiry);
  AddNumber(obj, "payload_bytes", static_cast<double>(m.payload.size()));
  AddBytes(obj, "payload", m.payload);
  return obj;
}

// A content type safe to send as a header: printable ASCII only.
std::string SafeContentType(const std::optional<std::string>& type) {
  if (!type || type->empty() || type->size() > 255) return "application/octet-stream";
  for (unsigned char c : *type) {
    if (c < 0x20 || c > 0x7e) return "application/octet-stream";
  }
  return *type;
}

// Raw bytes from the archive: never rendered as a page of this origin, whatever they claim.
HttpResponse Raw(std::string bytes, std::string content_type) {
  HttpResponse r = HttpResponse::Text(200, std::move(bytes), std::move(content_type));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Content-Security-Policy", "sandbox");
  return r;
}

HttpResponse List(ReceiverContext& ctx, const std::string& raw_query) {
  std::string error;
  auto page = ParsePageQuery(
      raw_query, kDefaultPage, kMaxPage,
      [](std::string_view id) { return archive::ParseUuid(id).has_value(); }, &error);
  if (!page) return JsonError(400, error);
  MessageQuery q;
  q.device = QueryParam(raw_query, "device");
  q.topic = QueryParam(raw_query, "topic");
  q.from_ms = page->from_ms;
  q.to_ms = page->to_ms;
  q.after = page->after;
  q.limit = page->limit;
  auto rows = ctx.index.Messages(q);
  if (!rows) return JsonError(500, rows.error().message());
  CjsonPtr obj(cJSON_CreateObject());
  cJSON* arr = cJSON_AddArrayToObject(obj.get(), "messages");
  for (const MessageRow& m : *rows) cJSON_AddItemToArray(arr, RowJson(m));
  // A full page may have more behind it; a short one is the last.
  if (static_cast<int>(rows->size()) == q.limit) {
    cJSON_AddStringToObject(obj.get(), "next_cursor",
                            NextCursor(rows->back().ts, rows->back().id).c_str());
  }
  return Json(200, obj.get());
}

}  // namespace

HttpResponse MessagesAnswer(ReceiverContext& ctx, const std::string& path,
                            const std::string& raw_query) {
  constexpr std::string_view kBase = "/api/v1/messages";
  if (path == kBase) return List(ctx, raw_query);
  std::string rest = path.substr(kBase.size() + 1);
  size_t slash = rest.find('/');
  std::string id = rest.substr(0, slash);
  std::string what = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (what != "" && what != "bson" && what != "payload") return JsonError(404, "no such endpoint");
  auto uuid = archive::ParseUuid(id);
  if (id.size() != 36 || !uuid) return JsonError(400, "the message id must be a 36-character UUID");
  auto row = ctx.index.Message(archive::UuidText(*uuid));
  if (!row) return JsonError(500, row.error().message());
  if (!row->has_value()) return JsonError(404, "no message " + id);
  uint32_t max_document = ValidatorLimitsOf(ctx.config).max_document_bytes;
  auto document = ReadMessageDocument(ctx.store, **row, max_document);
  if (!document) {
    return JsonError(500, "the archive disagrees with the index: " + document.error().message());
  }
  if (what == "bson") return Raw(std::move(*document), "application/bson");
  auto message = archive::DecodeBson(*document);
  if (!message) return JsonError(500, "stored document: " + message.error().message());
  if (what == "payload") {
    return Raw(std::move(message->payload), SafeContentType(message->headers.content_type));
  }
  CjsonPtr obj(MessageJson(**row, *message));
  return Json(200, obj.get());
}

}  // namespace granary::receiver
