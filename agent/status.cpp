#include "agent/status.h"

#include <cjson/cJSON.h>

#include <string>
#include <utility>
#include <vector>

#include "agent/json_fields.h"
#include "agent/outbox/runs_status.h"
#include "platform/handles.h"

namespace granary {
namespace {

using namespace json_fields;

cJSON* BufferJson(const BufferStats& b, uint64_t quota) {
  cJSON* o = cJSON_CreateObject();
  AddU(o, "captured", b.captured);
  AddU(o, "buffered", b.buffered);
  AddU(o, "rejected", b.rejected);
  AddU(o, "segments_sealed", b.segments_sealed);
  AddU(o, "segments_uploaded", b.segments_uploaded);
  AddU(o, "segments_dropped", b.segments_dropped);
  AddU(o, "pending_bytes", b.pending_bytes);
  AddI(o, "oldest_pending_ts", b.oldest_pending_ts_ms);
  AddU(o, "dropped_readings", b.dropped_readings);
  AddU(o, "usage_bytes", b.usage_bytes);
  AddU(o, "quota_bytes", quota);
  cJSON_AddBoolToObject(o, "paused", b.paused);
  AddU(o, "commit_errors", b.commit_errors);
  AddU(o, "seal_errors", b.seal_errors);
  AddU(o, "buffers_moved_aside", b.buffers_moved_aside);
  AddI(o, "oldest_pending_sealed", b.oldest_pending_sealed_ms);
  AddU(o, "state_losses", b.state_losses);
  AddI(o, "last_state_loss_at", b.last_state_loss_ms);
  cJSON_AddStringToObject(o, "last_state_loss", b.last_state_loss.c_str());
  AddU(o, "possibly_lost", b.possibly_lost);
  cJSON_AddStringToObject(o, "last_error", b.last_error.c_str());
  cJSON* seqs = cJSON_AddObjectToObject(o, "last_seq");
  for (const auto& [name, seq] : b.last_seq) AddU(seqs, name.c_str(), seq);
  return o;
}

void ParseBuffer(const cJSON* o, BufferStats& b) {
  b.captured = GetU(o, "captured");
  b.buffered = GetU(o, "buffered");
  b.rejected = GetU(o, "rejected");
  b.segments_sealed = GetU(o, "segments_sealed");
  b.segments_uploaded = GetU(o, "segments_uploaded");
  b.segments_dropped = GetU(o, "segments_dropped");
  b.pending_bytes = GetU(o, "pending_bytes");
  b.oldest_pending_ts_ms = GetI(o, "oldest_pending_ts");
  b.dropped_readings = GetU(o, "dropped_readings");
  b.usage_bytes = GetU(o, "usage_bytes");
  b.paused = GetB(o, "paused");
  b.commit_errors = GetU(o, "commit_errors");
  b.seal_errors = GetU(o, "seal_errors");
  b.buffers_moved_aside = GetU(o, "buffers_moved_aside");
  b.oldest_pending_sealed_ms = GetI(o, "oldest_pending_sealed");
  b.state_losses = GetU(o, "state_losses");
  b.last_state_loss_ms = GetI(o, "last_state_loss_at");
  b.last_state_loss = GetS(o, "last_state_loss");
  b.possibly_lost = GetU(o, "possibly_lost");
  b.last_error = GetS(o, "last_error");
  const cJSON* seqs = cJSON_GetObjectItemCaseSensitive(o, "last_seq");
  const cJSON* it = nullptr;
  cJSON_ArrayForEach(it, seqs) {
    if (cJSON_IsNumber(it)) b.last_seq[it->string] = static_cast<uint64_t>(it->valuedouble);
  }
}

cJSON* UploadsJson(const AgentStatus& s) {
  const UploadStats& u = s.uploads;
  cJSON* o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "enabled", s.uploads_enabled);
  AddU(o, "uploaded", u.uploaded);
  AddU(o, "uploaded_bytes", u.uploaded_bytes);
  AddU(o, "failed", u.failed);
  AddU(o, "tombstones", u.tombstones);
  AddI(o, "last_ok", u.last_ok_ms);
  AddI(o, "last_error_at", u.last_error_ms);
  cJSON_AddStringToObject(o, "last_error", u.last_error.c_str());
  cJSON_AddBoolToObject(o, "last_error_permanent", u.last_error_permanent);
  AddI(o, "catalog_error_at", u.catalog_error_ms);
  cJSON_AddStringToObject(o, "catalog_error", u.catalog_error.c_str());
  AddI(o, "clock_offset_ms", u.clock_offset_ms);
  return o;
}

void ParseUploads(const cJSON* o, AgentStatus& s) {
  UploadStats& u = s.uploads;
  s.uploads_enabled = GetB(o, "enabled");
  u.uploaded = GetU(o, "uploaded");
  u.uploaded_bytes = GetU(o, "uploaded_bytes");
  u.failed = GetU(o, "failed");
  u.tombstones = GetU(o, "tombstones");
  u.last_ok_ms = GetI(o, "last_ok");
  u.last_error_ms = GetI(o, "last_error_at");
  u.last_error = GetS(o, "last_error");
  u.last_error_permanent = GetB(o, "last_error_permanent");
  u.clock_offset_ms = GetI(o, "clock_offset_ms");
  u.catalog_error_ms = GetI(o, "catalog_error_at");
  u.catalog_error = GetS(o, "catalog_error");
}

cJSON* MqttJson(const AgentStatus& s) {
  const MqttStats& m = s.mqtt;
  cJSON* o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "enabled", s.mqtt_enabled);
  cJSON_AddStringToObject(o, "broker", s.mqtt_broker.c_str());
  cJSON_AddBoolToObject(o, "connected", m.connected);
  AddU(o, "connects", m.connects);
  AddU(o, "connect_failures", m.connect_failures);
  AddI(o, "last_connect", m.last_connect_ms);
  AddI(o, "last_error_at", m.last_error_ms);
  cJSON_AddStringToObject(o, "last_error", m.last_error.c_str());
  AddU(o, "status_published", m.status_published);
  AddU(o, "events_published", m.events_published);
  AddU(o, "events_dropped", m.events_dropped);
  return o;
}

void ParseMqtt(const cJSON* o, AgentStatus& s) {
  MqttStats& m = s.mqtt;
  s.mqtt_enabled = GetB(o, "enabled");
  s.mqtt_broker = GetS(o, "broker");
  m.connected = GetB(o, "connected");
  m.connects = GetU(o, "connects");
  m.connect_failures = GetU(o, "connect_failures");
  m.last_connect_ms = GetI(o, "last_connect");
  m.last_error_ms = GetI(o, "last_error_at");
  m.last_error = GetS(o, "last_error");
  m.status_published = GetU(o, "status_published");
  m.events_published = GetU(o, "events_published");
  m.events_dropped = GetU(o, "events_dropped");
}

// "archive": whether any mqtt source acknowledges before it commits (a QoS 2 filter), and
// each source's counters.
cJSON* ArchiveJson(const std::vector<MqttSourceStats>& all) {
  cJSON* o = cJSON_CreateObject();
  bool ack_first = false;
  for (const MqttSourceStats& a : all) ack_first |= a.ack_before_commit;
  cJSON_AddBoolToObject(o, "ack_before_commit", ack_first);
  cJSON* list = cJSON_AddArrayToObject(o, "sources");
  for (const MqttSourceStats& a : all) {
    cJSON* j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", a.name.c_str());
    cJSON_AddStringToObject(j, "broker", a.broker.c_str());
    cJSON_AddStringToObject(j, "protocol", a.protocol.c_str());
    cJSON_AddBoolToObject(j, "connected", a.connected);
    cJSON_AddBoolToObject(j, "ack_before_commit", a.ack_before_commit);
    AddU(j, "connects", a.connects);
    AddU(j, "connect_failures", a.connect_failures);
    AddU(j, "received", a.received);
    AddU(j, "archived", a.archived);
    AddU(j, "duplicates", a.duplicates);
    AddU(j, "vetoed", a.vetoed);
    AddU(j, "known_ids", a.known_ids);
    AddI(j, "last_message", a.last_message_ms);
    AddI(j, "last_error_at", a.last_error_ms);
    cJSON_AddStringToObject(j, "last_error", a.last_error.c_str());
    cJSON_AddItemToArray(list, j);
  }
  return o;
}

void ParseArchive(const cJSON* o, std::vector<MqttSourceStats>& out) {
  const cJSON* it = nullptr;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "sources")) {
    MqttSourceStats a;
    a.name = GetS(it, "name");
    a.broker = GetS(it, "broker");
    a.protocol = GetS(it, "protocol");
    a.connected = GetB(it, "connected");
    a.ack_before_commit = GetB(it, "ack_before_commit");
    a.connects = GetU(it, "connects");
    a.connect_failures = GetU(it, "connect_failures");
    a.received = GetU(it, "received");
    a.archived = GetU(it, "archived");
    a.duplicates = GetU(it, "duplicates");
    a.vetoed = GetU(it, "vetoed");
    a.known_ids = GetU(it, "known_ids");
    a.last_message_ms = GetI(it, "last_message");
    a.last_error_ms = GetI(it, "last_error_at");
    a.last_error = GetS(it, "last_error");
    out.push_back(std::move(a));
  }
}

}  // namespace

std::string StatusFilePath(const std::string& state_dir) { return state_dir + "/status.json"; }
std::string LockFilePath(const std::string& state_dir) { return state_dir + "/granary.lock"; }

std::string StatusJson(const AgentStatus& s) {
  CjsonPtr root(cJSON_CreateObject());
  cJSON* o = root.get();
  cJSON_AddStringToObject(o, "device", s.device.c_str());
  cJSON_AddStringToObject(o, "version", GRANARY_VERSION);
  cJSON_AddStringToObject(o, "state", s.state.c_str());
  cJSON* reasons = cJSON_AddArrayToObject(o, "degraded_reasons");
  for (const auto& r : s.degraded_reasons)
    cJSON_AddItemToArray(reasons, cJSON_CreateString(r.c_str()));
  AddI(o, "pid", s.pid);
  AddI(o, "started", s.started_ms);
  AddI(o, "updated", s.updated_ms);
  AddI(o, "uptime_s", s.started_ms > 0 ? (s.updated_ms - s.started_ms) / 1000 : 0);
  cJSON_AddBoolToObject(o, "clock_synced", s.clock_synced);
  AddU(o, "flushes", s.flushes);
  cJSON* sources = cJSON_AddArrayToObject(o, "sources");
  for (const SourceStats& src : s.sources) {
    cJSON* j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", src.name.c_str());
    cJSON_AddStringToObject(j, "type", src.type.c_str());
    AddU(j, "polls", src.polls);
    AddU(j, "errors", src.errors);
    AddU(j, "overruns", src.overruns);
    AddU(j, "missed", src.missed);
    AddU(j, "paused", src.paused);
    AddU(j, "readings", src.readings);
    AddU(j, "rejected", src.rejected);
    AddU(j, "consecutive_failures", src.consecutive_failures);
    AddI(j, "last_ok", src.last_ok_ms);
    AddI(j, "last_error_at", src.last_error_ms);
    cJSON_AddStringToObject(j, "last_error", src.last_error.c_str());
    cJSON_AddItemToArray(sources, j);
  }
  cJSON_AddItemToObject(o, "buffer", BufferJson(s.buffer, s.quota_bytes));
  cJSON_AddItemToObject(o, "uploads", UploadsJson(s));
  AddU(o, "disk_free_bytes", s.disk_free_bytes);
  cJSON_AddItemToObject(o, "mqtt", MqttJson(s));
  if (!s.archive.empty()) cJSON_AddItemToObject(o, "archive", ArchiveJson(s.archive));
  if (!s.runs.empty()) cJSON_AddItemToObject(o, "runs", RunsJson(s.runs));
  if (!s.outbox.empty()) cJSON_AddItemToObject(o, "outbox", OutboxJson(s.outbox));
  CjsonString text(cJSON_PrintUnformatted(o));
  return std::string(text.get()) + "\n";
}

Result<AgentStatus> ParseStatusJson(const std::string& text) {
  CjsonPtr root(cJSON_Parse(text.c_str()));
  if (!root || !cJSON_IsObject(root.get())) return Error("status file is not a JSON object");
  const cJSON* o = root.get();
  AgentStatus s;
  s.device = GetS(o, "device");
  s.state = GetS(o, "state");
  const cJSON* it = nullptr;
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "degraded_reasons")) {
    if (cJSON_IsString(it)) s.degraded_reasons.emplace_back(it->valuestring);
  }
  s.pid = GetI(o, "pid");
  s.started_ms = GetI(o, "started");
  s.updated_ms = GetI(o, "updated");
  s.clock_synced = GetB(o, "clock_synced");
  s.flushes = GetU(o, "flushes");
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "sources")) {
    SourceStats src;
    src.name = GetS(it, "name");
    src.type = GetS(it, "type");
    src.polls = GetU(it, "polls");
    src.errors = GetU(it, "errors");
    src.overruns = GetU(it, "overruns");
    src.missed = GetU(it, "missed");
    src.paused = GetU(it, "paused");
    src.readings = GetU(it, "readings");
    src.rejected = GetU(it, "rejected");
    src.consecutive_failures = GetU(it, "consecutive_failures");
    src.last_ok_ms = GetI(it, "last_ok");
    src.last_error_ms = GetI(it, "last_error_at");
    src.last_error = GetS(it, "last_error");
    s.sources.push_back(std::move(src));
  }
  const cJSON* buffer = cJSON_GetObjectItemCaseSensitive(o, "buffer");
  ParseBuffer(buffer, s.buffer);
  s.quota_bytes = GetU(buffer, "quota_bytes");
  ParseUploads(cJSON_GetObjectItemCaseSensitive(o, "uploads"), s);
  s.disk_free_bytes = GetU(o, "disk_free_bytes");
  ParseMqtt(cJSON_GetObjectItemCaseSensitive(o, "mqtt"), s);
  ParseArchive(cJSON_GetObjectItemCaseSensitive(o, "archive"), s.archive);
  ParseRunsJson(cJSON_GetObjectItemCaseSensitive(o, "runs"), s.runs);
  s.outbox = ParseOutboxJson(cJSON_GetObjectItemCaseSensitive(o, "outbox"));
  return s;
}

Result<AgentStatus> ReadStatusFile(Env& env, const std::string& state_dir) {
  auto text = env.ReadFile(StatusFilePath(state_dir), 16 << 20);
  if (!text) return text.error();
  return ParseStatusJson(*text);
}

}  // namespace granary
