// The `mqtt` source: a subscriber that archives every message a broker delivers for its
// topic filters, byte-exact, as one BSON record each (archive/message.h), sealed into
// bson.gz segments like readings.
//
// Nothing is acknowledged before it is captured (docs/decisions.md): the handle is marked
// threaded, so libmosquitto only queues the PUBACKs its read path creates; this thread
// reads what is waiting, hands the messages to the buffer, waits for the writer to commit
// them, and only then writes the queued PUBACKs. The broker keeps the session (clean start
// off, session expiry) and redelivers whatever was not acknowledged. QoS 2 cannot have
// this guarantee (libmosquitto sends PUBREC before the callback): such a source reports
// ack_before_commit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/archive/mqtt_source_config.h"
#include "platform/env.h"
#include "storage/buffer.h"

namespace granary {

struct MqttSourceStats {
  std::string name;
  std::string broker;    // host:port
  std::string protocol;  // "5" or "3.1.1" once connected
  bool connected = false;
  bool ack_before_commit = false;  // a QoS 2 filter: its messages are acknowledged first
  uint64_t connects = 0;
  uint64_t connect_failures = 0;
  uint64_t received = 0;    // messages delivered by the broker
  uint64_t archived = 0;    // handed to the buffer and committed
  uint64_t duplicates = 0;  // an `_id` already archived: acknowledged, not archived again
  uint64_t vetoed = 0;      // on a veto topic: acknowledged, not archived
  uint64_t known_ids = 0;   // the dedupe window's size
  int64_t last_message_ms = 0;
  std::string last_error;
  int64_t last_error_ms = 0;
};

class MqttArchiver {
 public:
  MqttArchiver(Env& env, MqttSourceConfig config, std::string device, std::string state_dir,
               Buffer& buffer);
  ~MqttArchiver();
  MqttArchiver(const MqttArchiver&) = delete;
  MqttArchiver& operator=(const MqttArchiver&) = delete;

  // Seeds the dedupe window from what the source holds locally, then connects on a
  // thread of its own.
  void Start();
  // Acknowledges what was committed, disconnects (the session stays on the broker) and
  // joins. The buffer must still be running.
  void Stop();
  MqttSourceStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace granary
