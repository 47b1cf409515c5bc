// A reading as the buffer stores it. `seq` is assigned by the buffer at commit.
#pragma once

#include <cstdint>
#include <string>

namespace granary {

struct Reading {
  std::string source;
  int64_t ts_ms = 0;      // ms since the Unix epoch, UTC, from the agent's wall clock
  bool clock_ok = true;   // false while the wall clock was not synchronized
  std::string data_json;  // compact JSON object
  // A binary record instead of a JSON line (one BSON document of an archived MQTT
  // message): stored and sealed as it is, except for the 8 bytes at `seq_offset`, which
  // the writer fills with the seq (int64, little-endian) at commit, since the seq is only
  // known then. Empty for readings.
  std::string record;
  size_t seq_offset = 0;
};

}  // namespace granary
