// Publishes archived messages to an MQTT broker as they were received (libmosquitto, MQTT 5):
// topic, payload, QoS and retain as recorded (or overridden), and the recorded MQTT 5
// properties, user properties in their stored order (so `_id` travels with the message). The
// broker sees them in the order Publish() is called; pacing keeps a rate or the recorded
// spacing. Order per topic is kept on the wire whatever the QoS mix: the in-flight window stays
// within the broker's receive maximum (libmosquitto would hold back QoS 1/2 messages there and
// let QoS 0 ones pass), and a message waits for the QoS 2 handshake of an earlier one on its
// topic (mosquitto forwards QoS 2 at PUBREL). Used by `granary replay` and `granary-receiver
// restore`.
#pragma once

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "archive/message.h"
#include "platform/result.h"

namespace granary::archive {

struct BrokerAddress {
  bool tls = false;
  std::string host;
  int port = 0;
};
// mqtt://host[:port] (1883) or mqtts://host[:port] (8883); IPv6 hosts in brackets.
Result<BrokerAddress> ParseBrokerUrl(std::string_view url);

struct RepublishOptions {
  std::string broker_url;
  std::string client_id;  // empty: one made up by libmosquitto
  std::string username;   // empty: none
  std::string password;
  std::string ca_file;       // mqtts: the CA bundle; empty: the system's
  std::optional<int> qos;    // instead of the recorded QoS
  bool no_retain = false;    // publish every message with retain off
  double rate = 0;           // messages per second; 0: as fast as the broker takes them
  double speed = 0;          // > 0: the recorded spacing divided by this
  size_t max_inflight = 64;  // unacknowledged messages before Publish() waits
  std::chrono::milliseconds timeout{10000};  // for the connection and for each acknowledgement
};

// When each message is due: at `rate` no sooner than n/rate after the first, at `speed` no
// sooner than (ts - first ts)/speed after the first; both when both are set.
class Pacer {
 public:
  Pacer(double rate, double speed) : rate_(rate), speed_(speed) {}
  std::chrono::steady_clock::time_point Due(int64_t ts_ms,
                                            std::chrono::steady_clock::time_point now);

 private:
  double rate_, speed_;
  uint64_t count_ = 0;
  int64_t first_ts_ = 0;
  std::chrono::steady_clock::time_point start_{};
};

// The message's MQTT 5 properties as libmosquitto takes them, in the stored order; the caller
// frees the list with mosquitto_property_free_all. An error on a value MQTT cannot carry.
Result<mosquitto_property*> PublishProperties(const Headers& headers);

class Republisher {
 public:
  // Connects (MQTT 5, clean start) and waits for the broker's CONNACK.
  static Result<std::unique_ptr<Republisher>> Connect(const RepublishOptions& options);
  ~Republisher();
  Republisher(const Republisher&) = delete;
  Republisher& operator=(const Republisher&) = delete;

  // Waits for the message's turn (pacing) and for room in the in-flight window, then hands it to
  // the broker. An error when the broker refused an earlier message or the connection dropped.
  Status Publish(const ArchivedMessage& message);
  // Waits until the broker acknowledged everything published, then disconnects.
  Status Finish();
  // Messages the broker acknowledged (QoS 0: sent).
  uint64_t acknowledged() const;

 private:
  struct Impl;
  explicit Republisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace granary::archive
