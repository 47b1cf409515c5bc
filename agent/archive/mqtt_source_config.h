// A `type = "mqtt"` source: a subscriber that archives what a local broker carries into
// BSON segments (docs/configuration.md "mqtt source"). Read with the other sources at
// config load; the daemon starts one MqttArchiver (agent/archive/mqtt_source.h) for it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "config/reader.h"

namespace granary {

struct MqttTopic {
  std::string filter;
  int qos = 1;
};

struct MqttSourceConfig {
  std::string name;
  std::string host;
  int port = 1883;
  bool tls = false;  // mqtts://
  std::string ca_file;
  std::string username;
  std::string password_file;
  std::string password;   // its content, read at load. Never log it.
  std::string protocol;   // "auto" (MQTT 5, else 3.1.1), "5", "3.1.1"
  std::string client_id;  // fixed, so the broker keeps one session for it
  std::vector<MqttTopic> topics;
  std::vector<std::string> veto;  // filters whose messages are acknowledged, never archived
  std::chrono::seconds session_expiry{86'400};
  std::chrono::seconds keepalive{60};
  std::chrono::milliseconds reconnect_min{1'000};
  std::chrono::milliseconds reconnect_max{60'000};
  uint32_t dedupe_window = 100'000;  // recent _ids remembered per source
  // MQTT 5 CONNECT receive maximum: the QoS 1/2 messages the broker may have unacknowledged
  // at once, so the most a kill -9 can leave committed but unacknowledged.
  uint16_t receive_maximum = 20;
};

// Reads the mqtt type's keys (the common ones are read already). `device` names the
// default client id, `own_prefix` ([mqtt] prefix) the default veto of granary's own topics.
MqttSourceConfig ReadMqttSource(ConfigReader& r, const std::string& name, const std::string& device,
                                const std::string& own_prefix);

}  // namespace granary
