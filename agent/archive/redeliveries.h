// The QoS 1 and 2 messages whose PUBACK may not have reached the broker: those of the last
// two passes, and at least the last `capacity` (the receive maximum) handled, by packet id with a
// digest of topic and payload and the `_id` they were archived under. Kept in a small file in the
// state directory, written before the pass that holds them is handed to the buffer. After a
// reconnect the broker first resends what it has not seen acknowledged, with the original packet
// ids (MQTT 5 and 3.1.1, section 4.4), so such a message is recognised here and keeps its `_id`
// (docs/decisions.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "archive/message.h"
#include "platform/env.h"

namespace granary {

class Redeliveries {
 public:
  Redeliveries(Env& env, std::string path, size_t capacity)
      : env_(env), path_(std::move(path)), capacity_(capacity) {}

  // The records the last run left: what a reconnect may bring again. A damaged file is
  // moved aside and said: its messages then come again under a new `_id`, never lost.
  void Load();
  // A new connection: its first messages are matched against the records until one is
  // not (the broker resends before it sends anything new).
  void Reconnected();
  // The `_id` an earlier delivery of this message (same packet id, topic and payload) was
  // given, while the connection's resends last. Ends them otherwise.
  std::optional<archive::Uuid> Match(uint16_t mid, const std::string& digest);
  // Remembers a message of this connection, newest last.
  void Add(uint16_t mid, std::string digest, const archive::Uuid& id);
  // The pass's PUBACKs are being written: older passes may be forgotten from the next.
  void EndPass() { ++pass_; }
  // Writes the records; before the pass that added them is handed to the buffer.
  Status Save();
  size_t size() const { return earlier_.size() + recent_.size(); }

  // The digest of a message: SHA-256 of topic, NUL, payload.
  static std::string Digest(std::string_view topic, std::string_view payload);

 private:
  struct Record {
    uint16_t mid = 0;
    std::string digest;
    archive::Uuid id{};
    uint64_t pass = 0;
  };
  Env& env_;
  const std::string path_;
  const size_t capacity_;
  bool resending_ = false;
  uint64_t pass_ = 0;
  std::map<uint16_t, Record> earlier_;  // the previous connections', while resends last
  std::deque<Record> recent_;           // this connection's, at most capacity_
};

}  // namespace granary
