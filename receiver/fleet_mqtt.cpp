#include "receiver/fleet_mqtt.h"

#include <cjson/cJSON.h>
#include <fmt/format.h>

#include <cstring>

#include "platform/handles.h"
#include "platform/log.h"

namespace granary::receiver {
namespace {

constexpr size_t kMaxStatusBytes = 64 * 1024;

FleetMqtt* Self(void* user) { return static_cast<FleetMqtt*>(user); }

void ConnectCallback(mosquitto*, void* user, int rc) { Self(user)->OnConnect(rc); }
void DisconnectCallback(mosquitto*, void* user, int) { Self(user)->OnDisconnect(); }
void MessageCallback(mosquitto*, void* user, const mosquitto_message* m) {
  if (m == nullptr || m->topic == nullptr) return;
  Self(user)->OnMessage(m->topic, std::string_view(static_cast<const char*>(m->payload),
                                                   static_cast<size_t>(m->payloadlen)));
}

}  // namespace

FleetMqtt::FleetMqtt(Env& env, Index& index, const ReceiverConfig& config, KnownDevice known)
    : env_(env), index_(index), settings_(config.mqtt), known_(std::move(known)) {}

FleetMqtt::~FleetMqtt() {
  if (started_) {
    mosquitto_disconnect(client_.get());
    mosquitto_loop_stop(client_.get(), /*force=*/true);
  }
}

Status FleetMqtt::Start() {
  client_.reset(mosquitto_new(settings_.client_id.c_str(), /*clean_session=*/true, this));
  if (!client_) return Error("mqtt: cannot create a client");
  if (!settings_.username.empty()) {
    mosquitto_username_pw_set(client_.get(), settings_.username.c_str(),
                              settings_.password.empty() ? nullptr : settings_.password.c_str());
  }
  mosquitto_connect_callback_set(client_.get(), &ConnectCallback);
  mosquitto_disconnect_callback_set(client_.get(), &DisconnectCallback);
  mosquitto_message_callback_set(client_.get(), &MessageCallback);
  mosquitto_reconnect_delay_set(client_.get(), 1, 30, true);
  int keepalive = static_cast<int>(settings_.keepalive.count() / 1000);
  int rc =
      mosquitto_connect_async(client_.get(), settings_.host.c_str(), settings_.port, keepalive);
  if (rc != MOSQ_ERR_SUCCESS) {
    // Not fatal: the loop retries the connection.
    log::Warning("mqtt: connect to {}:{}: {}", settings_.host, settings_.port,
                 mosquitto_strerror(rc));
  }
  rc = mosquitto_loop_start(client_.get());
  if (rc != MOSQ_ERR_SUCCESS) return Error(std::string("mqtt: ") + mosquitto_strerror(rc));
  started_ = true;
  return Status::Ok();
}

void FleetMqtt::OnConnect(int rc) {
  if (rc != 0) {
    log::Warning("mqtt: broker refused the connection: {}", mosquitto_connack_string(rc));
    return;
  }
  stats_.connected = true;
  stats_.connects += 1;
  for (const char* kind : {"status", "events"}) {
    std::string topic = fmt::format("{}/+/{}", settings_.topic_prefix, kind);
    mosquitto_subscribe(client_.get(), nullptr, topic.c_str(), 1);
  }
  if (answers_) {
    std::string topic = settings_.topic_prefix + "/validation/+";
    mosquitto_subscribe(client_.get(), nullptr, topic.c_str(), 1);
  }
  log::Notice("mqtt: connected to {}:{}", settings_.host, settings_.port);
}

void FleetMqtt::OnDisconnect() {
  if (stats_.connected.exchange(false)) log::Warning("mqtt: disconnected; reconnecting");
}

void FleetMqtt::OnMessage(const std::string& topic, std::string_view payload) {
  stats_.messages += 1;
  std::string prefix = settings_.topic_prefix + "/";
  if (!topic.starts_with(prefix)) return;
  std::string rest = topic.substr(prefix.size());
  if (answers_ && rest.starts_with("validation/")) {
    if (payload.size() <= kMaxStatusBytes) answers_(rest.substr(11), payload);
    return;
  }
  size_t slash = rest.find('/');
  if (slash == std::string::npos) return;
  std::string device = rest.substr(0, slash), kind = rest.substr(slash + 1);
  if (payload.size() > kMaxStatusBytes || !known_(device)) return;
  CjsonPtr json(cJSON_ParseWithLength(payload.data(), payload.size()));
  if (!json || !cJSON_IsObject(json.get())) {
    log::Info("mqtt: {}: not a JSON object", topic);
    return;
  }
  int64_t now = env_.WallNowMs();
  if (kind == "status") {
    const char* state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json.get(), "state"));
    std::string s = state != nullptr ? state : "";
    bool online = s != "offline" && s != "stopped";
    CjsonString compact(cJSON_PrintUnformatted(json.get()));
    Status st = index_.RecordDeviceStatus(device, compact.get(), online, now);
    if (!st) log::Error("mqtt: record status of {}: {}", device, st.error().message());
  } else if (kind == "events") {
    const char* type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json.get(), "type"));
    CjsonString compact(cJSON_PrintUnformatted(json.get()));
    Status st = index_.RecordDeviceEvent(device, std::string("device:") + (type ? type : "event"),
                                         compact.get(), now);
    if (!st) log::Error("mqtt: record event of {}: {}", device, st.error().message());
  }
}

void FleetMqtt::PublishAvailable(const ObjectMeta& meta, const SegmentFacts& f) {
  if (!started_ || !stats_.connected) {
    stats_.dropped += 1;
    return;
  }
  CjsonPtr obj(cJSON_CreateObject());
  cJSON_AddStringToObject(obj.get(), "device", f.device.c_str());
  cJSON_AddStringToObject(obj.get(), "source", f.source.c_str());
  cJSON_AddStringToObject(obj.get(), "bucket", meta.bucket.c_str());
  cJSON_AddStringToObject(obj.get(), "key", meta.key.c_str());
  cJSON_AddNumberToObject(obj.get(), "first_seq", static_cast<double>(f.first_seq));
  cJSON_AddNumberToObject(obj.get(), "last_seq", static_cast<double>(f.last_seq));
  cJSON_AddNumberToObject(obj.get(), "count", static_cast<double>(f.count));
  cJSON_AddNumberToObject(obj.get(), "first_ts", static_cast<double>(f.first_ts));
  cJSON_AddNumberToObject(obj.get(), "last_ts", static_cast<double>(f.last_ts));
  cJSON_AddStringToObject(obj.get(), "sha256", meta.sha256_hex.c_str());
  CjsonString text(cJSON_PrintUnformatted(obj.get()));
  Publish("available", text.get());
}

bool FleetMqtt::Publish(const std::string& suffix, const std::string& payload) {
  if (!started_ || !stats_.connected) {
    stats_.dropped += 1;
    return false;
  }
  std::string topic = settings_.topic_prefix + "/" + suffix;
  int rc = mosquitto_publish(client_.get(), nullptr, topic.c_str(),
                             static_cast<int>(payload.size()), payload.data(), 1, false);
  (rc == MOSQ_ERR_SUCCESS ? stats_.published : stats_.dropped) += 1;
  return rc == MOSQ_ERR_SUCCESS;
}

}  // namespace granary::receiver
