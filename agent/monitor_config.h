// The [mqtt] and [metrics] sections of the config: how the agent reports its health.
// docs/configuration.md documents every key; agent/config_mqtt.cpp reads them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace granary {

struct MqttConfig {
  bool enabled = false;  // [mqtt] present and not enabled = false
  std::string host = "localhost";
  int port = 0;                    // 0: 1883, or 8883 with TLS
  std::string prefix = "granary";  // topics are {prefix}/{device}/status and .../events
  std::string client_id;           // default "granary-{device}": one persistent session each
  std::chrono::seconds keepalive{60};
  std::chrono::milliseconds reconnect_min{1'000};
  std::chrono::milliseconds reconnect_max{60'000};
  std::string username;
  std::string password_file;  // mode 0600 or 0400, checked at load
  std::string password;       // its content, read at load. Never log it.
  std::string ca_file;        // set: TLS, verifying the broker against this CA
  std::string cert_file;      // client certificate, with key_file
  std::string key_file;
  uint32_t event_queue = 1000;  // events kept while disconnected; beyond, the oldest go

  bool tls() const { return !ca_file.empty(); }
  int EffectivePort() const { return port != 0 ? port : (tls() ? 8883 : 1883); }
};

struct MetricsConfig {
  std::string textfile;  // Prometheus text, rewritten atomically; "" disables
  int listen_port = 0;   // serve /metrics on 127.0.0.1:PORT; 0 disables
};

}  // namespace granary
