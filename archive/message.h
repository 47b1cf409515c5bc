// One archived MQTT message and its BSON document (docs/formats.md "Archive segments"): the
// single definition of the bson.gz/1 document, shared by the agent that writes it and the
// receiver and replay tools that read it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/result.h"

namespace granary::archive {

using Uuid = std::array<uint8_t, 16>;

struct UserProperty {
  std::string name, value;
  bool operator==(const UserProperty&) const = default;
};

// The MQTT 5 properties the message carried; absent ones stay absent.
struct Headers {
  std::vector<UserProperty> user_properties;  // in received order, repeats kept
  std::optional<std::string> content_type;
  std::optional<int32_t> payload_format;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;  // raw bytes
  std::optional<int32_t> message_expiry;        // seconds
  bool operator==(const Headers&) const = default;
};

struct ArchivedMessage {
  Uuid id{};
  int64_t seq = 0;
  int64_t ts_ms = 0;  // receive time, ms since the Unix epoch
  std::string device, source, topic;
  int32_t qos = 0;
  bool retain = false;
  bool dup = false;
  bool clock_unsynced = false;  // stored as clock: "unsynced"
  Headers headers;
  std::string payload;  // raw bytes, may be empty
  bool operator==(const ArchivedMessage&) const = default;
};

// The document's bytes, fields in the order of the format.
std::string EncodeBson(const ArchivedMessage& message);

// Strict: the bytes must be exactly one valid BSON document (UTF-8 strings without NUL) with the
// format's fields in its order, each of its type and range, and nothing else. The error names
// the first field that is wrong.
Result<ArchivedMessage> DecodeBson(std::string_view document);

// "0f8fad5b-d9cb-469f-a165-70867728950e": lowercase, 36 characters.
std::string UuidText(const Uuid& id);
// A UUID from its 16 raw bytes or its 36-character text form (either case); nullopt otherwise.
std::optional<Uuid> ParseUuid(std::string_view raw_or_text);
// A random (version 4) UUID from OpenSSL's generator.
Uuid NewUuidV4();

}  // namespace granary::archive
