// Fleet health over MQTT (libmosquitto, on its own network thread): subscribes to
// {topic_prefix}/+/status and {topic_prefix}/+/events of the configured devices and records
// the latest status (online unless it says offline or stopped) and each event in the index;
// publishes {topic_prefix}/available for every accepted segment, and carries the external
// validators' requests and answers (report_validation.h). A broker that is down never
// blocks ingest: publishing while disconnected drops the message and counts it, and the
// library reconnects with backoff.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "platform/env.h"
#include "platform/handles_mosquitto.h"
#include "receiver/config.h"
#include "receiver/index.h"
#include "receiver/object_store.h"
#include "receiver/validator.h"

namespace granary::receiver {

struct FleetMqttStats {
  std::atomic<bool> connected{false};
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> dropped{0};
};

class FleetMqtt {
 public:
  // Messages are taken only from devices `known` says exist (TOML keys and the registry's,
  // as they are now: a device added while running is heard at once).
  using KnownDevice = std::function<bool(const std::string& device)>;
  FleetMqtt(Env& env, Index& index, const ReceiverConfig& config, KnownDevice known);
  ~FleetMqtt();
  FleetMqtt(const FleetMqtt&) = delete;
  FleetMqtt& operator=(const FleetMqtt&) = delete;

  // Starts the network thread and connects in the background.
  Status Start();
  // Thread-safe; never blocks on the network.
  void PublishAvailable(const ObjectMeta& meta, const SegmentFacts& facts);
  // Any message under the topic prefix: {topic_prefix}/{suffix}. False when not sent.
  bool Publish(const std::string& suffix, const std::string& payload);
  // Answers on {topic_prefix}/validation/{request_id} go to `handler` (set before Start()).
  using AnswerHandler = std::function<void(const std::string& request_id, std::string_view body)>;
  void SetValidationHandler(AnswerHandler handler) { answers_ = std::move(handler); }
  const FleetMqttStats& stats() const { return stats_; }

  // For the callbacks.
  void OnConnect(int rc);
  void OnDisconnect();
  void OnMessage(const std::string& topic, std::string_view payload);

 private:
  Env& env_;
  Index& index_;
  MqttSettings settings_;
  KnownDevice known_;
  AnswerHandler answers_;
  MosquittoPtr client_;
  bool started_ = false;
  FleetMqttStats stats_;
};

}  // namespace granary::receiver
