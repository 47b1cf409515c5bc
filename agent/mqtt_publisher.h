// The agent's MQTT status publisher (libmosquitto). It publishes, on one persistent
// session per device:
//   {prefix}/{device}/status  retained, QoS 1: the status JSON; the last will puts
//                             {"state":"offline",...} there when the agent vanishes
//   {prefix}/{device}/events  QoS 1, not retained: start, stop, uploads, errors, drops
// Connecting, reconnecting (with backoff) and all network I/O happen on the publisher's
// own thread, so a broker that is down or slow never delays polling or the buffer.
// docs/formats.md documents the payloads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/monitor_config.h"
#include "platform/env.h"

namespace granary {

struct MqttStats {
  bool connected = false;
  uint64_t connects = 0;          // sessions accepted by the broker
  uint64_t connect_failures = 0;  // attempts that failed or were refused
  uint64_t status_published = 0;
  uint64_t events_published = 0;
  uint64_t events_dropped = 0;  // the disconnected queue was full
  int64_t last_connect_ms = 0;  // wall clock of the last accepted session
  int64_t last_error_ms = 0;
  std::string last_error;  // the latest failure; stays after a reconnect, for the record
};

// A jittered exponential delay before reconnect attempt `attempt` (0-based): `min`
// doubling up to `max`, then a uniform draw from the upper half of it (`random01` in [0,1)),
// so a fleet that lost its broker at once does not come back at once.
std::chrono::milliseconds ReconnectDelay(int attempt, std::chrono::milliseconds min,
                                         std::chrono::milliseconds max, double random01);

// The retained status topic, the events topic, and the last will's payload.
std::string StatusTopic(const MqttConfig& config, const std::string& device);
std::string EventsTopic(const MqttConfig& config, const std::string& device);
std::string OfflineStatusJson(const std::string& device);

class MqttPublisher {
 public:
  // Starts the network thread, which connects in the background. Never fails: a setup
  // error (say, an unreadable CA file) shows in Stats().last_error, and nothing is sent.
  MqttPublisher(Env& env, MqttConfig config, std::string device);
  // Stop() with the last status given, if Stop() was not called.
  ~MqttPublisher();
  MqttPublisher(const MqttPublisher&) = delete;
  MqttPublisher& operator=(const MqttPublisher&) = delete;

  // Makes `json` the current status, published retained on every (re)connect, and now
  // too when `now` and connected. Thread-safe.
  void PublishStatus(std::string json, bool now = true);
  // Publishes one event now when connected; otherwise it waits, in a queue of
  // config.event_queue events whose oldest are dropped (and counted) first. Thread-safe.
  void PublishEvent(std::string json);
  // Publishes `final_status`, waits up to `wait` for the broker to acknowledge it, then
  // disconnects cleanly, so the broker does not publish the last will. Idempotent.
  void Stop(std::string final_status, std::chrono::milliseconds wait);

  MqttStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace granary
